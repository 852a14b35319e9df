// Bundles the extension into two files, so the .vsix carries no node_modules:
// dist/extension.js for the extension host (CommonJS, `vscode` provided by the host) and
// dist/webview.js for the chat view (an IIFE run inside the webview, with markdown-it,
// DOMPurify and highlight.js inside it). `--dev` keeps them unminified with source maps.
import * as esbuild from "esbuild";

const dev = process.argv.includes("--dev");
const common = { bundle: true, minify: !dev, sourcemap: dev, logLevel: "warning", legalComments: "none" };

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: ["src/extension.ts"],
    outfile: "dist/extension.js",
    platform: "node",
    format: "cjs",
    target: "node18",
    external: ["vscode"],
  }),
  esbuild.build({
    ...common,
    entryPoints: ["src/webview/main.ts"],
    outfile: "dist/webview.js",
    platform: "browser",
    format: "iife",
    target: "es2022",
  }),
]);
