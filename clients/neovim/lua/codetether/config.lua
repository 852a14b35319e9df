---Options: one fully-defaulted table; a bad value warns and falls back to its default.
local M = {}

---@alias codetether.ApprovalMode "ask"|"auto"|"plan"

---@class codetether.Keymaps
---@field approve string Approve the proposal shown in the diff view.
---@field reject string Reject it.
---@field close string Close the diff view.

---@class codetether.Options
---@field cmd string[] The language server command.
---@field cli string[]? The CLI used by :checkhealth (`daemon status`); nil: `cmd` without its trailing "lsp".
---@field model string? "provider/model"; nil: the daemon's default.
---@field approval_mode codetether.ApprovalMode
---@field codetether_home string? CODETETHER_HOME for the daemon (tests use a temp dir).
---@field auto_start_daemon boolean
---@field log_level integer A `vim.log.levels` value for the log file.
---@field on_proposal "notify"|"diff"|"select" What an incoming edit proposal does.
---@field save_after_apply boolean Write the files of an applied agent edit, so the agent's next command sees them.
---@field chat_split "right"|"below"|"tab"|"current"
---@field keymaps codetether.Keymaps

---@class codetether.SetupOptions
---@field cmd? string[]
---@field cli? string[]
---@field model? string
---@field approval_mode? codetether.ApprovalMode
---@field codetether_home? string
---@field auto_start_daemon? boolean
---@field log_level? integer
---@field on_proposal? "notify"|"diff"|"select"
---@field save_after_apply? boolean
---@field chat_split? "right"|"below"|"tab"|"current"
---@field keymaps? { approve?: string, reject?: string, close?: string }

---@type codetether.Options
M.defaults = {
  cmd = { "codetether", "lsp" },
  cli = nil,
  model = nil,
  approval_mode = "ask",
  codetether_home = nil,
  auto_start_daemon = true,
  log_level = vim.log.levels.WARN,
  on_proposal = "notify",
  save_after_apply = true,
  chat_split = "right",
  keymaps = { approve = "ga", reject = "gr", close = "q" },
}

local function one_of(...)
  local allowed = { ... }
  return function(v)
    return vim.tbl_contains(allowed, v), table.concat(allowed, "|")
  end
end

local function list_of_strings(v)
  if type(v) ~= "table" or #v == 0 then
    return false, "a non-empty list of strings"
  end
  for _, s in ipairs(v) do
    if type(s) ~= "string" then
      return false, "a non-empty list of strings"
    end
  end
  return true
end

local function optional(kind)
  return function(v)
    return v == nil or type(v) == kind, kind .. " or nil"
  end
end

local checks = {
  cmd = list_of_strings,
  cli = function(v)
    return v == nil or list_of_strings(v), "a list of strings or nil"
  end,
  model = optional("string"),
  approval_mode = one_of("ask", "auto", "plan"),
  codetether_home = optional("string"),
  auto_start_daemon = function(v)
    return type(v) == "boolean", "boolean"
  end,
  log_level = function(v)
    return type(v) == "number" and v >= vim.log.levels.TRACE and v <= vim.log.levels.OFF, "a vim.log.levels value"
  end,
  on_proposal = one_of("notify", "diff", "select"),
  save_after_apply = function(v)
    return type(v) == "boolean", "boolean"
  end,
  chat_split = one_of("right", "below", "tab", "current"),
}

---Merge `opts` over the defaults; returns the options and the list of problems found.
---@param opts codetether.SetupOptions?
---@return codetether.Options, string[]
function M.resolve(opts)
  local out = vim.deepcopy(M.defaults)
  local problems = {}
  for key, value in pairs(opts or {}) do
    if key == "keymaps" then
      if type(value) ~= "table" then
        table.insert(problems, "keymaps: expected a table")
      else
        for k, lhs in pairs(value) do
          if out.keymaps[k] == nil or (type(lhs) ~= "string" and lhs ~= false) then
            table.insert(problems, ("keymaps.%s: unknown key or not a string"):format(k))
          else
            out.keymaps[k] = lhs
          end
        end
      end
    elseif checks[key] == nil then
      table.insert(problems, ("unknown option %q"):format(key))
    else
      local ok, expected = checks[key](value)
      if ok then
        out[key] = value
      else
        table.insert(problems, ("%s: expected %s, got %s; using the default"):format(key, expected, vim.inspect(value)))
      end
    end
  end
  return out, problems
end

---The CLI prefix (`codetether`) derived from the server command.
---@param o codetether.Options
---@return string[]
function M.cli(o)
  if o.cli then
    return o.cli
  end
  if o.cmd[#o.cmd] == "lsp" then
    return vim.list_slice(o.cmd, 1, #o.cmd - 1)
  end
  if o.cmd[#o.cmd] == "codetether.lsp" and o.cmd[#o.cmd - 1] == "-m" then
    local cli = vim.list_slice(o.cmd, 1, #o.cmd - 2)
    vim.list_extend(cli, { "-c", "import sys; from codetether.daemon.cli import main; sys.exit(main())" })
    return cli
  end
  return { "codetether" }
end

---initializationOptions as PROTOCOL.md spells them (camelCase).
---@param o codetether.Options
function M.init_options(o)
  return {
    model = o.model or vim.NIL,
    approvalMode = o.approval_mode,
    codetetherHome = o.codetether_home or vim.NIL,
    autoStartDaemon = o.auto_start_daemon,
    saveAfterApply = o.save_after_apply,
  }
end

return M
