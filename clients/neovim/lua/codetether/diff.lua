---The diff view of a proposal: original | proposed in a tab, `diffthis`, approve/reject keys.
local log = require("codetether.log")
local pending = require("codetether.pending")

local M = {}

---@class codetether.DiffView
---@field tabs integer[]
---@field bufs integer[]
---@field stale boolean

---@type table<string, codetether.DiffView>
M.views = {}

---@param path string
---@param lines string
---@param title string
local function scratch(path, lines, title)
  local b = vim.api.nvim_create_buf(false, true)
  vim.bo[b].buftype = "nofile"
  vim.bo[b].bufhidden = "wipe"
  vim.bo[b].swapfile = false
  local text = vim.split(lines or "", "\n", { plain = true })
  if text[#text] == "" and #text > 1 then
    table.remove(text) -- the file's final newline
  end
  vim.api.nvim_buf_set_lines(b, 0, -1, false, text)
  vim.bo[b].modifiable = false
  pcall(vim.api.nvim_buf_set_name, b, ("codetether://%s/%s"):format(title, path))
  local ft = vim.filetype.match({ filename = path })
  if ft then
    vim.bo[b].filetype = ft
  end
  return b
end

---Close the view of `id`, if open.
---@param id string
function M.close(id)
  local view = M.views[id]
  M.views[id] = nil
  if not view then
    return
  end
  for _, tab in ipairs(view.tabs) do
    if vim.api.nvim_tabpage_is_valid(tab) and #vim.api.nvim_list_tabpages() > 1 then
      vim.cmd.tabclose(vim.api.nvim_tabpage_get_number(tab))
    end
  end
  for _, b in ipairs(view.bufs) do
    if vim.api.nvim_buf_is_valid(b) then
      pcall(vim.api.nvim_buf_delete, b, { force = true })
    end
  end
end

---@param id string
---@param view codetether.DiffView
local function map_keys(id, view)
  local keys = require("codetether").options.keymaps
  local approvals = require("codetether.approvals")
  for _, b in ipairs(view.bufs) do
    local function map(lhs, fn, desc)
      if lhs then
        vim.keymap.set("n", lhs, fn, { buffer = b, nowait = true, desc = desc })
      end
    end
    map(keys.approve, function()
      if view.stale then
        log.notify(vim.log.levels.WARN, "the buffer changed since this proposal; the server will refuse it")
      end
      approvals.approve(id)
      M.close(id)
    end, "codetether: approve the proposal")
    map(keys.reject, function()
      approvals.reject(id)
      M.close(id)
    end, "codetether: reject the proposal")
    map(keys.close, function()
      M.close(id)
    end, "codetether: close the diff")
  end
end

---@param id string
---@param file { path: string, original: string, proposed: string }
---@param stale boolean
local function show(id, file, stale)
  vim.cmd("tabnew")
  local tab = vim.api.nvim_get_current_tabpage()
  local left = scratch(file.path, file.original, "original")
  local right = scratch(file.path, file.proposed, "proposed")
  local lwin = vim.api.nvim_get_current_win()
  local empty = vim.api.nvim_get_current_buf()
  vim.api.nvim_win_set_buf(lwin, left)
  pcall(vim.api.nvim_buf_delete, empty, { force = true })
  vim.cmd("diffthis")
  vim.cmd("rightbelow vsplit")
  local rwin = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(rwin, right)
  vim.cmd("diffthis")
  local keys = require("codetether").options.keymaps
  local hint = ("%s approve  %s reject  %s close"):format(keys.approve or "-", keys.reject or "-", keys.close or "-")
  local flag = stale and "%#WarningMsg#[STALE: buffer changed] %*" or ""
  vim.wo[lwin].winbar = flag .. "original: " .. file.path
  vim.wo[rwin].winbar = flag .. "proposed: " .. file.path .. "  (" .. hint .. ")"
  return tab, { left, right }
end

---Open the diff view of proposal `id` (default: the newest pending one).
---@param id string?
---@param cb fun(view: codetether.DiffView?)?
function M.open(id, cb)
  id = id or pending.latest(true)
  if not id then
    log.notify(vim.log.levels.INFO, "no pending proposal")
    return cb and cb(nil)
  end
  local p = pending.proposals[id]
  -- Snapshot now: a buffer edited while showDiff is in flight makes the answer stale.
  local ticks = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    ticks[b] = vim.api.nvim_buf_get_changedtick(b)
  end
  require("codetether.lsp").exec("codetether.showDiff", { { id = id } }, function(err, result)
    if err or not result then
      log.notify(vim.log.levels.WARN, "showDiff %s: %s", id, err and err.message or "no result")
      return cb and cb(nil)
    end
    local stale = p ~= nil and #pending.stale_buffers(p) > 0
    for b, tick in pairs(ticks) do
      if vim.api.nvim_buf_is_valid(b) and vim.api.nvim_buf_get_changedtick(b) ~= tick then
        for _, f in ipairs(result.files or {}) do
          if pending.bufnr(f.uri) == b then
            stale = true
          end
        end
      end
    end
    M.close(id)
    local view = { tabs = {}, bufs = {}, stale = stale }
    for _, f in ipairs(result.files or {}) do
      local tab, bufs = show(id, f, stale) -- one tab per file
      table.insert(view.tabs, tab)
      vim.list_extend(view.bufs, bufs)
    end
    M.views[id] = view
    map_keys(id, view)
    if cb then
      cb(view)
    end
  end)
end

---`codetether/resolved`: the view of a decided proposal goes away.
---@param params { id: string }
function M.on_resolved(params)
  if M.views[params.id] then
    M.close(params.id)
  end
end

return M
