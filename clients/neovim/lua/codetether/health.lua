---`:checkhealth codetether`
local config = require("codetether.config")

local M = {}

---@param o codetether.Options
local function check_daemon(o)
  local h = vim.health
  local cli = config.cli(o)
  local env = o.codetether_home and { CODETETHER_HOME = o.codetether_home } or nil
  local cmd = vim.list_extend(vim.deepcopy(cli), { "daemon", "status", "--json" })
  if vim.fn.executable(cli[1]) ~= 1 then
    h.error(("%s not found: cannot ask the daemon"):format(cli[1]), { "set `cli` in setup()" })
    return
  end
  local ok, res = pcall(function()
    return vim.system(cmd, { env = env, text = true }):wait(10000)
  end)
  if ok and res.code == 0 then
    local decoded_ok, status = pcall(vim.json.decode, res.stdout or "")
    local detail = decoded_ok and type(status) == "table" and status.pid and (" (pid " .. status.pid .. ")") or ""
    h.ok("daemon reachable" .. detail)
  elseif ok and o.auto_start_daemon then
    h.ok("daemon not running; the language server starts it (autoStartDaemon)")
  elseif ok then
    h.warn("daemon not running", { "codetether daemon start" })
  else
    h.error("could not run " .. table.concat(cmd, " ") .. ": " .. tostring(res))
  end
end

function M.check()
  local h = vim.health
  local ct = require("codetether")
  local o = ct.options

  h.start("codetether: Neovim")
  if vim.fn.has("nvim-0.10") == 1 then
    h.ok("Neovim " .. tostring(vim.version()))
  else
    h.error("Neovim 0.10 or later is required", { "Upgrade Neovim" })
  end
  for _, problem in ipairs(ct.problems) do
    h.warn("setup: " .. problem)
  end

  h.start("codetether: executables")
  local exe = o.cmd[1]
  if vim.fn.executable(exe) == 1 then
    h.ok(("server command found: %s"):format(table.concat(o.cmd, " ")))
  else
    h.error(("%s not found"):format(exe), { "pip install codetether, or set `cmd` in setup()" })
  end

  h.start("codetether: daemon")
  check_daemon(o)

  h.start("codetether: language server")
  local client = require("codetether.lsp").client()
  if client then
    local bufs = vim.tbl_keys(client.attached_buffers or {})
    h.ok(("server attached (client %d, root %s, %d buffers)"):format(client.id, client.root_dir or "?", #bufs))
  else
    h.info("server not started yet; any :Codetether command starts it")
  end
  h.info("log file: " .. require("codetether.log").path())
end

return M
