---The language server client: start, attach buffers, run commands, route notifications.
local config = require("codetether.config")
local log = require("codetether.log")

local M = {}

M.name = "codetether"

---@type table[] commands queued until the server answers `initialize`
local queue = {}

---@return vim.lsp.Client?
function M.client()
  return vim.lsp.get_clients({ name = M.name })[1]
end

local function fire(pattern, data)
  vim.api.nvim_exec_autocmds("User", { pattern = pattern, data = data, modeline = false })
end

---Each custom notification updates its module, then fires `User Codetether<Name>`.
local routes = {
  ["codetether/event"] = function(params)
    vim.g.codetether_last_event = params.event
    require("codetether.chat").on_event(params)
    local kind = (params.event or {}).type
    if kind == "done" or kind == "error" then
      require("codetether.status").idle() -- the turn is over, whatever the last push said (E4)
    end
    return "CodetetherEvent"
  end,
  ["codetether/proposal"] = function(params)
    require("codetether.pending").add_proposal(params)
    require("codetether.approvals").on_proposal(params)
    return "CodetetherProposal"
  end,
  ["codetether/approval"] = function(params)
    require("codetether.pending").add_approval(params)
    require("codetether.approvals").on_approval(params)
    return "CodetetherApproval"
  end,
  ["codetether/resolved"] = function(params)
    local pending = require("codetether.pending")
    if pending.proposals[params.id] and params.by == "cancelled" then
      log.notify(vim.log.levels.INFO, "the proposed edit was withdrawn: the run was cancelled")
    end
    pending.resolve(params.id)
    require("codetether.approvals").on_resolved(params)
    require("codetether.diff").on_resolved(params)
    return "CodetetherResolved"
  end,
  ["codetether/status"] = function(params)
    require("codetether.status").update(params)
    return "CodetetherStatus"
  end,
}

local handlers = {}
for method, route in pairs(routes) do
  handlers[method] = function(err, params)
    if err then
      log.error("%s: %s", method, vim.inspect(err))
      return
    end
    log.debug("%s %s", method, vim.json.encode(params))
    local ok, pattern = xpcall(route, debug.traceback, params)
    if not ok then
      log.error("%s handler failed: %s", method, pattern)
      return
    end
    fire(pattern, params)
  end
end

-- The server goes on as soon as we answer applyEdit (the next proposal may follow at
-- once), so the edit's didChange must go out before the answer, not after the 150 ms
-- debounce; otherwise the server computes the next proposal on the old text.
handlers["workspace/applyEdit"] = function(err, params, ctx)
  local result = vim.lsp.handlers["workspace/applyEdit"](err, params, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local ok, changetracking = pcall(require, "vim.lsp._changetracking") -- private; best effort
  if client and ok and type(changetracking.flush) == "function" then
    pcall(changetracking.flush, client)
  end
  log.debug("applyEdit %s -> %s", params and params.label or "", vim.inspect(result))
  return result
end

---`codetether/saveDocuments` (a request): write the buffers of an applied agent edit,
---silently and without autocmds, so exactly the applied text lands on disk (E6).
handlers["codetether/saveDocuments"] = function(_, params)
  local saved = {}
  for _, uri in ipairs((params or {}).uris or {}) do
    local bufnr = require("codetether.pending").bufnr(uri)
    if bufnr then
      local ok, err = pcall(vim.api.nvim_buf_call, bufnr, function()
        if vim.bo.modified then
          vim.cmd("silent noautocmd write")
        end
      end)
      if ok then
        table.insert(saved, uri)
      else
        log.warn("could not save %s: %s", uri, err)
      end
    end
  end
  log.debug("saveDocuments -> %s", vim.inspect(saved))
  return { saved = saved }
end

---@param bufnr integer
local function is_file_buffer(bufnr)
  return vim.api.nvim_buf_is_loaded(bufnr)
    and vim.bo[bufnr].buftype == ""
    and vim.api.nvim_buf_get_name(bufnr) ~= ""
end

---@param client vim.lsp.Client
---@param bufnr integer
function M.attach(client, bufnr)
  if not is_file_buffer(bufnr) or vim.lsp.buf_is_attached(bufnr, client.id) then
    return
  end
  local root = client.root_dir
  local name = vim.fs.normalize(vim.api.nvim_buf_get_name(bufnr))
  if root and not vim.startswith(name, vim.fs.normalize(root) .. "/") then
    return
  end
  vim.lsp.buf_attach_client(bufnr, client.id)
end

local has_011 = vim.fn.has("nvim-0.11") == 1

---`client:request` (0.11) or `client.request` (0.10).
local function request(client, method, params, handler)
  if has_011 then
    return client:request(method, params, handler)
  end
  return client.request(method, params, handler) ---@diagnostic disable-line
end

local function flush(client)
  local pending = queue
  queue = {}
  for _, q in ipairs(pending) do
    request(client, "workspace/executeCommand", { command = q.command, arguments = q.arguments }, q.handler)
  end
end

---The running client, started (with attach = false) when there is none.
---@return vim.lsp.Client?
function M.ensure()
  local client = M.client()
  if client then
    return client
  end
  local o = require("codetether").options
  local bufnr = vim.api.nvim_get_current_buf()
  local root = vim.fs.root(is_file_buffer(bufnr) and bufnr or vim.fn.getcwd(), { ".git" }) or vim.fn.getcwd()
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.experimental = { codetether = { approvals = true, saveDocuments = true } }
  log.info("starting %s in %s", table.concat(o.cmd, " "), root)
  local id = vim.lsp.start({
    name = M.name,
    cmd = o.cmd,
    cmd_env = o.codetether_home and { CODETETHER_HOME = o.codetether_home } or nil,
    root_dir = root,
    init_options = config.init_options(o),
    capabilities = capabilities,
    handlers = handlers,
    on_init = function(c)
      log.info("initialized: %s", vim.inspect(c.server_info))
      flush(c)
    end,
    on_exit = function(code, signal)
      queue = {}
      log.info("server exited: code %s signal %s", code, signal)
      require("codetether.status").update(nil)
    end,
  }, { attach = false })
  client = id and vim.lsp.get_client_by_id(id) or nil
  if not client then
    log.notify(vim.log.levels.ERROR, "could not start %s", table.concat(o.cmd, " "))
    return nil
  end
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    M.attach(client, b)
  end
  return client
end

---Run `workspace/executeCommand`; `cb(err, result)` on the main loop.
---@param command string
---@param arguments table[]
---@param cb fun(err: lsp.ResponseError?, result: any)?
function M.exec(command, arguments, cb)
  local client = M.ensure()
  local handler = function(err, result)
    if err then
      log.warn("%s failed: %s", command, err.message or vim.inspect(err))
    end
    if cb then
      cb(err, result)
    end
  end
  if not client then
    handler({ code = -32603, message = "the codetether language server is not running" })
    return
  end
  if not client.initialized then
    table.insert(queue, { command = command, arguments = arguments, handler = handler })
    return
  end
  request(client, "workspace/executeCommand", { command = command, arguments = arguments }, handler)
end

---The workspace folder URI commands are scoped to.
---@return string?
function M.folder()
  local client = M.client()
  return client and client.root_dir and vim.uri_from_fname(client.root_dir) or nil
end

function M.stop()
  local client = M.client()
  if client then
    if has_011 then
      client:stop()
    else
      client.stop() ---@diagnostic disable-line
    end
  end
end

return M
