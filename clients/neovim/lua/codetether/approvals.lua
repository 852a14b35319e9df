---Approvals and questions through vim.ui.select / vim.ui.input, one prompt at a time;
---`/go`'s OKR gates in a float of their own (codetether.okr).
---A choice made after the gate was decided elsewhere (CLI, another editor) is dropped.
local log = require("codetether.log")
local pending = require("codetether.pending")

local M = {}

---@type codetether.Approval[] prompts waiting for the current one to close
local queue = {}
local busy = false

local function lsp()
  return require("codetether.lsp")
end

---Run a decision command; a failure is logged, and `cb` sees the outcome either way.
---@param command string
---@param what string
---@param args table
---@param cb fun(err: any, result: any)?
local function decide(command, what, args, cb)
  lsp().exec(command, { args }, function(err, result)
    if err then
      log.notify(vim.log.levels.WARN, "%s: %s", what, log.plain(err))
    elseif type(result) == "table" and result.applied == false and result.message then
      log.notify(vim.log.levels.WARN, "%s", result.message) -- e.g. the buffer changed (E7)
    end
    if cb then
      cb(err, result)
    end
  end)
end

---@param id string
---@param cb fun(err: any, result: any)?
function M.approve(id, cb)
  decide("codetether.approve", "approve", { id = id }, cb)
end

---@param id string
---@param reason string?
---@param cb fun(err: any, result: any)?
function M.reject(id, reason, cb)
  decide("codetether.reject", "reject", { id = id, reason = reason }, cb)
end

---@param id string
---@param answer string
function M.answer(id, answer)
  lsp().exec("codetether.answer", { { id = id, answer = answer } })
end

local next_prompt

---@param a codetether.Approval
local function prompt(a)
  busy = true
  local function done()
    busy = false
    vim.schedule(next_prompt)
  end
  local title = a.title or a.id
  if a.detail and a.detail ~= "" then
    title = title .. "\n" .. a.detail
  end
  if a.kind == "question" and (a.options == nil or #a.options == 0) then
    vim.ui.input({ prompt = title .. ": " }, function(input)
      if input ~= nil and pending.is_pending(a.id) then
        M.answer(a.id, input)
      end
      done()
    end)
    return
  end
  local choices = a.kind == "question" and a.options or { "Allow", "Deny" }
  if a.kind == "edit" then
    choices = { "Allow", "Deny", "Show diff" }
  end
  vim.ui.select(choices, { prompt = title, kind = "codetether." .. (a.kind or "tool") }, function(choice)
    if choice == nil or not pending.is_pending(a.id) then
      -- dismissed, or decided elsewhere meanwhile: the answer is stale
    elseif a.kind == "question" then
      M.answer(a.id, choice)
    elseif choice == "Allow" then
      M.approve(a.id)
    elseif choice == "Deny" then
      M.reject(a.id)
    elseif choice == "Show diff" then
      require("codetether.diff").open(a.id)
    end
    done()
  end)
end

next_prompt = function()
  while not busy and #queue > 0 do
    local a = table.remove(queue, 1)
    if pending.is_pending(a.id) then
      prompt(a)
    end
  end
end

---Queue a prompt for `a`.
---@param a codetether.Approval
function M.ask(a)
  table.insert(queue, a)
  next_prompt()
end

---`codetether/approval`: edits are handled through their proposal, OKR gates in a float.
---@param params codetether.Approval
function M.on_approval(params)
  if params.kind == "okr" then
    require("codetether.okr").open(params)
    return
  end
  if params.kind == "edit" and pending.proposals[params.id] then
    return
  end
  if params.kind == "edit" and require("codetether").options.on_proposal ~= "select" then
    return
  end
  M.ask(params)
end

---`codetether/proposal`.
---@param params table
function M.on_proposal(params)
  local how = require("codetether").options.on_proposal
  local paths = vim.tbl_map(pending.rel, params.files or {})
  if how == "diff" then
    require("codetether.diff").open(params.id)
  elseif how == "select" then
    M.ask({ id = params.id, kind = "edit", title = ("Apply %s to %s?"):format(params.tool, table.concat(paths, ", ")) })
  else
    log.notify(
      vim.log.levels.INFO,
      "the agent proposes a change to %s (%s): :Codetether diff | approve | reject",
      table.concat(paths, ", "),
      params.tool
    )
  end
end

---`codetether/resolved`: drop queued prompts and the OKR float for it.
---@param params { id: string, status: string }
function M.on_resolved(params)
  queue = vim.tbl_filter(function(a)
    return a.id ~= params.id
  end, queue)
  require("codetether.okr").on_resolved(params)
end

---Bring back a pending gate (default: the newest): an OKR gate's float, a proposal's
---diff, or the approval / question prompt that was dismissed.
---@param id string?
function M.reopen(id)
  id = id or pending.latest()
  if not id or not pending.is_pending(id) then
    return log.notify(vim.log.levels.INFO, "nothing pending")
  end
  local a = pending.approvals[id]
  if pending.proposals[id] and (not a or a.kind == "edit") then
    return require("codetether.diff").open(id)
  end
  if a.kind == "okr" then
    require("codetether.okr").open(a)
  else
    M.ask(a)
  end
end

return M
