-- Only the user command lives here; everything else loads on first use.
if vim.g.loaded_codetether then
  return
end
vim.g.loaded_codetether = true

local subcommands = {
  "approve", "cancel", "chat", "diff", "model", "new", "pending", "plan",
  "reject", "resume", "review", "sessions", "status",
}

vim.api.nvim_create_user_command("Codetether", function(args)
  require("codetether").command(args.fargs)
end, {
  nargs = "*",
  desc = "codetether: chat, approvals, sessions",
  complete = function(arglead, cmdline)
    local words = vim.split(cmdline, "%s+", { trimempty = true })
    local nth = #words + (cmdline:match("%s$") and 1 or 0)
    if nth > 2 then
      return require("codetether").complete(words[2], arglead)
    end
    return vim.tbl_filter(function(s)
      return vim.startswith(s, arglead)
    end, subcommands)
  end,
})
