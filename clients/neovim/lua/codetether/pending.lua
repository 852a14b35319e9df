---Pending proposals and approvals, newest last, with the buffers' changedtick
---at arrival so a proposal whose buffer changed since can be shown as stale.
local M = {}

---@class codetether.ProposalFile
---@field uri string
---@field path string
---@field rel string? workspace-relative path
---@field diff string?
---@field version integer?

---@class codetether.Proposal
---@field id string
---@field tool string
---@field files codetether.ProposalFile[]
---@field ticks table<integer, integer> bufnr -> changedtick when the proposal arrived
---@field arrived integer vim.uv.hrtime() at arrival

---@class codetether.Approval
---@field id string
---@field kind "tool"|"edit"|"question"|"okr"
---@field title string
---@field detail string?
---@field options string[]?
---@field okr table? the drafted objective of an "okr" gate (lsp/PROTOCOL.md)
---@field arrived integer? vim.uv.hrtime() at arrival

---@type table<string, codetether.Proposal>
M.proposals = {}
---@type table<string, codetether.Approval>
M.approvals = {}
---@type string[] ids in arrival order
local order = {}
---@type table<string, { tool: string, rels: string[] }> every proposal seen, kept after it is
---decided so the chat can say what happened to it
M.known = {}

---A file's workspace-relative path, for messages.
---@param f codetether.ProposalFile
---@return string
function M.rel(f)
  if f.rel and f.rel ~= "" then
    return f.rel
  end
  local root = require("codetether.lsp").client()
  root = root and root.root_dir
  if root and vim.startswith(f.path or "", root .. "/") then
    return f.path:sub(#root + 2)
  end
  return f.path or "?"
end

---The loaded buffer showing `uri`, if any.
---@param uri string
---@return integer?
function M.bufnr(uri)
  local ok, fname = pcall(vim.uri_to_fname, uri)
  if not ok then
    return nil
  end
  local bufnr = vim.fn.bufnr(fname)
  if bufnr > 0 and vim.api.nvim_buf_is_loaded(bufnr) then
    return bufnr
  end
  return nil
end

---@param params table codetether/proposal params
---@return codetether.Proposal
function M.add_proposal(params)
  local ticks = {}
  for _, f in ipairs(params.files or {}) do
    local bufnr = M.bufnr(f.uri)
    if bufnr then
      ticks[bufnr] = vim.api.nvim_buf_get_changedtick(bufnr)
    end
  end
  local p = {
    id = params.id, tool = params.tool, files = params.files or {}, ticks = ticks, arrived = vim.uv.hrtime(),
  }
  M.proposals[p.id] = p
  M.known[p.id] = { tool = p.tool, rels = vim.tbl_map(M.rel, p.files) }
  table.insert(order, p.id)
  return p
end

---@param params table codetether/approval params
function M.add_approval(params)
  params.arrived = vim.uv.hrtime()
  M.approvals[params.id] = params
  if not vim.tbl_contains(order, params.id) then
    table.insert(order, params.id)
  end
end

---A proposal or approval was decided: forget it.
---@param id string
function M.resolve(id)
  M.proposals[id] = nil
  M.approvals[id] = nil
  for i, v in ipairs(order) do
    if v == id then
      table.remove(order, i)
      break
    end
  end
end

---@param id string
function M.is_pending(id)
  return M.proposals[id] ~= nil or M.approvals[id] ~= nil
end

---The newest pending id; `proposals_only` skips approvals that are not edits.
---@param proposals_only boolean?
---@return string?
function M.latest(proposals_only)
  for i = #order, 1, -1 do
    local id = order[i]
    if M.proposals[id] or (not proposals_only and M.approvals[id]) then
      return id
    end
  end
  return nil
end

---@return string[]
function M.ids()
  return vim.deepcopy(order)
end

---Buffers of the proposal changed since it arrived.
---@param p codetether.Proposal
---@return integer[]
function M.stale_buffers(p)
  local stale = {}
  for bufnr, tick in pairs(p.ticks) do
    if not vim.api.nvim_buf_is_valid(bufnr) or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      table.insert(stale, bufnr)
    end
  end
  return stale
end

function M.clear()
  M.proposals, M.approvals, order = {}, {}, {}
end

return M
