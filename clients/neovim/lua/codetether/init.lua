---codetether for Neovim: the public API. See `:help codetether` / README.md.
local config = require("codetether.config")
local log = require("codetether.log")

local M = {}

---@type codetether.Options
M.options = vim.deepcopy(config.defaults)
---@type string[] problems found in the last setup() options
M.problems = {}

local augroup = vim.api.nvim_create_augroup("codetether", { clear = true })

---Configure the plugin; the server starts on the first command.
---@param opts codetether.SetupOptions?
function M.setup(opts)
  M.options, M.problems = config.resolve(opts)
  log.level = M.options.log_level
  for _, problem in ipairs(M.problems) do
    log.notify(vim.log.levels.WARN, "setup: %s", problem)
  end
  vim.api.nvim_clear_autocmds({ group = augroup })
  -- Buffers opened once the server runs are attached so it sees unsaved text.
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = augroup,
    callback = function(ev)
      local lsp = require("codetether.lsp")
      local client = lsp.client()
      if client then
        lsp.attach(client, ev.buf)
      end
    end,
  })
end

local function lsp()
  return require("codetether.lsp")
end

---A command's result in words, not a Lua table (E7).
---@param result any
---@return string
local function summary(result)
  if type(result) ~= "table" then
    return tostring(result)
  elseif result.findings ~= nil then
    return tostring(result.findings)
  elseif result.models ~= nil then
    return type(result.model) == "string" and result.model or "the daemon's default"
  elseif result.session_id ~= nil then
    return tostring(result.session_id)
  end
  return vim.inspect(result, { newline = " ", indent = "" })
end

---@param what string
local function report(what)
  return function(err, result)
    if err then
      log.notify(vim.log.levels.ERROR, "%s: %s", what, log.plain(err))
    elseif result ~= nil then
      log.notify(vim.log.levels.INFO, "%s: %s", what, summary(result))
    end
  end
end

---Send `text` to the agent; the answer streams into the chat buffer.
---@param text string?
---@param cb fun(err: any, result: { session_id: string }?)?
function M.chat(text, cb)
  local chat = require("codetether.chat")
  if not text or text == "" then
    chat.open()
    vim.ui.input({ prompt = "codetether> " }, function(input)
      if input and input ~= "" then
        M.chat(input, cb)
      end
    end)
    return
  end
  chat.open()
  chat.prompt(text)
  lsp().exec("codetether.chat", { { text = text, folder = lsp().folder() } }, function(err, result)
    if err then
      chat.append({ "!! " .. log.plain(err) })
    end
    if cb then
      cb(err, result)
    end
  end)
end

---Approve a proposal or approval (default: the newest pending one).
---@param id string?
---@param cb fun(err: any, result: any)?
function M.approve(id, cb)
  id = id or require("codetether.pending").latest()
  if not id then
    return log.notify(vim.log.levels.INFO, "nothing pending")
  end
  require("codetether.approvals").approve(id, cb)
end

---Reject a proposal or approval (default: the newest pending one).
---@param id string?
---@param reason string?
---@param cb fun(err: any, result: any)?
function M.reject(id, reason, cb)
  id = id or require("codetether.pending").latest()
  if not id then
    return log.notify(vim.log.levels.INFO, "nothing pending")
  end
  require("codetether.approvals").reject(id, reason, cb)
end

---Show the diff of a proposal (default: the newest pending one).
---@param id string?
function M.diff(id)
  require("codetether.diff").open(id)
end

---Bring back a pending gate (default: the newest): an OKR gate's float after `q`, a
---proposal's diff, a dismissed approval or question.
---@param id string?
function M.pending(id)
  require("codetether.approvals").reopen(id)
end

---Pick a session of the workspace and resume it.
function M.sessions()
  lsp().exec("codetether.sessions", {}, function(err, result)
    if err then
      return report("sessions")(err)
    end
    local items = result or {}
    if #items == 0 then
      return log.notify(vim.log.levels.INFO, "no sessions in this workspace")
    end
    vim.ui.select(items, {
      prompt = "Resume session",
      format_item = function(s)
        return ("%s  %s"):format(s.id or s.session_id or "?", s.title or "")
      end,
    }, function(choice)
      if choice then
        M.resume(choice.id or choice.session_id)
      end
    end)
  end)
end

---@param id string
function M.resume(id)
  if not id then
    return M.sessions()
  end
  lsp().exec("codetether.resume", { { session_id = id } }, report("resumed"))
end

---Start a new session.
function M.new()
  lsp().exec("codetether.newSession", { { folder = lsp().folder() } }, report("new session"))
end

---Set the model, or pick one when `model` is nil.
---@param model string?
function M.model(model)
  if model then
    return lsp().exec("codetether.model", { { model = model } }, report("model"))
  end
  lsp().exec("codetether.model", { {} }, function(err, result)
    if err or not result then
      return report("model")(err, result)
    end
    vim.ui.select(result.models or {}, { prompt = "Model (now " .. tostring(result.model) .. ")" }, function(choice)
      if choice then
        M.model(type(choice) == "table" and (choice.id or choice.name) or choice)
      end
    end)
  end)
end

---Plan mode on/off; nil toggles it.
---@param on boolean?
function M.plan(on)
  if on == nil then
    on = M.options.approval_mode ~= "plan"
  end
  lsp().exec("codetether.planMode", { { on = on } }, function(err, result)
    if not err and result then
      M.options.approval_mode = result.approval_mode
    end
    report("approval mode")(err, result and result.approval_mode)
  end)
end

---Review the current buffer; findings become diagnostics.
---@param bufnr integer?
function M.review(bufnr)
  local uri = vim.uri_from_bufnr(bufnr or 0)
  lsp().exec("codetether.review", { { uri = uri } }, report("review findings"))
end

---Show the status (tokens, cost, context).
function M.status()
  require("codetether.status").refresh(function(s)
    if not s then
      return
    end
    local model = type(s.model) == "string" and s.model or "the daemon's default model"
    if type(s.session_id) ~= "string" then -- before any chat (E7)
      return log.notify(vim.log.levels.INFO, "no session yet; a chat starts one with %s", model)
    end
    log.notify(vim.log.levels.INFO, "%s (model %s, session %s)", require("codetether.status").format(s), model,
      s.session_id)
  end)
end

---Cancel the running turn.
---@param cb fun(err: any, result: any)?
function M.cancel(cb)
  lsp().exec("codetether.cancel", {}, function(err, result)
    if err then
      log.notify(vim.log.levels.WARN, "cancel: %s", log.plain(err))
    elseif type(result) == "table" and result.cancelled then
      log.notify(vim.log.levels.INFO, "cancelled") -- what the user asked for: not an error (E7)
    else
      log.notify(vim.log.levels.INFO, "nothing to cancel")
    end
    if cb then
      cb(err, result)
    end
  end)
end

---Whether `token` names a pending gate or looks like an approval id (12 hex digits), so
---`:Codetether reject not what I wanted` keeps "not" in the reason (E7).
---@param token string?
local function is_id(token)
  if not token then
    return false
  end
  return require("codetether.pending").is_pending(token) or token:match("^%x+$") ~= nil and #token == 12
end

local commands = {
  chat = function(args)
    M.chat(table.concat(args, " "))
  end,
  approve = function(args)
    M.approve(args[1])
  end,
  reject = function(args)
    local id = is_id(args[1]) and args[1] or nil
    local reason = table.concat(args, " ", id and 2 or 1)
    M.reject(id, reason ~= "" and reason or nil)
  end,
  diff = function(args)
    M.diff(args[1])
  end,
  sessions = function()
    M.sessions()
  end,
  model = function(args)
    M.model(args[1])
  end,
  new = function()
    M.new()
  end,
  resume = function(args)
    M.resume(args[1])
  end,
  plan = function(args)
    local on = ({ on = true, off = false })[args[1] or ""]
    M.plan(on)
  end,
  review = function()
    M.review()
  end,
  status = function()
    M.status()
  end,
  cancel = function()
    M.cancel()
  end,
  pending = function(args)
    M.pending(args[1])
  end,
}

---`:Codetether {sub} ...`
---@param fargs string[]
function M.command(fargs)
  local sub = fargs[1] or "chat"
  local fn = commands[sub]
  if not fn then
    return log.notify(vim.log.levels.ERROR, "unknown subcommand %q", sub)
  end
  fn(vim.list_slice(fargs, 2))
end

---Completion of a subcommand's argument.
---@param sub string
---@param arglead string
---@return string[]
function M.complete(sub, arglead)
  local items = {}
  if sub == "approve" or sub == "reject" or sub == "diff" or sub == "pending" then
    items = require("codetether.pending").ids()
  elseif sub == "plan" then
    items = { "on", "off" }
  end
  return vim.tbl_filter(function(s)
    return vim.startswith(s, arglead)
  end, items)
end

return M
