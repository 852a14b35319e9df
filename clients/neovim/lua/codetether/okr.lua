---`/go`'s OKR gate: a float with the drafted objective and its key results.
---`a` approves, `d` asks for a reason and denies with it (the daemon drafts again and a
---new gate, so a new float, follows), `q` closes the float and leaves the gate pending
---(`:Codetether pending` brings it back). A gate decided elsewhere closes its float.
local log = require("codetether.log")
local pending = require("codetether.pending")

local M = {}

M.FILETYPE = "codetether-okr"
M.FOOTER = "a approve   d deny   q later"

---@class codetether.OkrFloat
---@field win integer
---@field buf integer

---@type table<string, codetether.OkrFloat> open floats by gate id
M.floats = {}

---@param v any
---@return string
local function str(v)
  if v == nil or v == vim.NIL then
    return ""
  end
  return tostring(v)
end

---How a key result is measured, from its evidence spec (same words as the CLI's prompt).
---@param ev any
---@return string
local function evidence(ev)
  if type(ev) ~= "table" then
    return ""
  end
  local kind = str(ev.kind)
  for _, k in ipairs({ "command", "selection", "path", "url", "question", "value" }) do
    if str(ev[k]) ~= "" then
      return kind .. ": " .. str(ev[k])
    end
  end
  return kind
end

---A number without a trailing ".0" (JSON gives 1 as 1.0 sometimes).
---@param v any
local function num(v)
  if type(v) == "number" and v == math.floor(v) then
    return ("%d"):format(v)
  end
  return str(v)
end

---The float's text, before wrapping: from the draft in `okr`, else the server's `detail`.
---@param a codetether.Approval
---@return string[] lines
---@return string title
function M.render(a)
  local okr = type(a.okr) == "table" and a.okr or nil
  if not okr then
    local lines = vim.split(str(a.detail), "\n", { plain = true })
    local title = (str(a.title):gsub("^Approve objective: ", ""))
    if lines[1] == title then
      table.remove(lines, 1) -- the detail starts with the title already shown
    end
    return vim.list_extend({ "Objective: " .. title, "" }, lines), title
  end
  local title = str(okr.title) ~= "" and str(okr.title) or "(untitled objective)"
  local lines = { "Objective: " .. title }
  if str(okr.description) ~= "" then
    vim.list_extend(lines, vim.split(str(okr.description), "\n", { plain = true }))
  end
  table.insert(lines, "")
  table.insert(lines, "Key results:")
  for i, kr in ipairs(type(okr.key_results) == "table" and okr.key_results or {}) do
    if type(kr) == "table" then
      table.insert(lines, ("%d. %s"):format(i, str(kr.title)))
      local target = vim.trim(num(kr.target_value) .. " " .. str(kr.unit))
      local metric = str(kr.metric_type) ~= "" and str(kr.metric_type) or "progress"
      table.insert(lines, ("   target %s (%s)"):format(target ~= "" and target or "-", metric))
      local how = evidence(kr.evidence)
      if how ~= "" then
        table.insert(lines, "   measured by " .. how)
      end
    end
  end
  return lines, title
end

---Wrap `lines` at `width` columns on spaces, keeping each line's leading indent.
---@param lines string[]
---@param width integer
---@return string[]
local function wrap(lines, width)
  local out = {}
  for _, line in ipairs(lines) do
    local indent = line:match("^%s*")
    while vim.fn.strdisplaywidth(line) > width do
      local cut = width
      local space = line:sub(1, width + 1):match(".*()%s")
      if space and space > #indent + 1 then
        cut = space - 1
      end
      table.insert(out, line:sub(1, cut))
      line = indent .. line:sub(cut + 1):gsub("^%s+", "")
    end
    table.insert(out, line)
  end
  return out
end

---Close the float of gate `id`, if open; the gate itself is untouched.
---@param id string
function M.close(id)
  local f = M.floats[id]
  M.floats[id] = nil
  if not f then
    return
  end
  if vim.api.nvim_win_is_valid(f.win) then
    pcall(vim.api.nvim_win_close, f.win, true)
  end
  if vim.api.nvim_buf_is_valid(f.buf) then
    pcall(vim.api.nvim_buf_delete, f.buf, { force = true })
  end
end

---@param id string
---@return boolean still pending (else the float is closed: decided elsewhere meanwhile)
local function live(id)
  if pending.is_pending(id) then
    return true
  end
  M.close(id)
  log.notify(vim.log.levels.INFO, "this objective was already decided")
  return false
end

---@param id string
function M.approve(id)
  if not live(id) then
    return
  end
  M.close(id)
  require("codetether.approvals").approve(id)
end

---Ask why, then deny with the reason; Esc at the question keeps the gate open.
---@param id string
function M.deny(id)
  if not live(id) then
    return
  end
  vim.ui.input({ prompt = "Deny: why? (the objective is drafted again with it) " }, function(reason)
    if reason == nil then
      return -- dismissed: nothing decided, the float stays
    end
    if not pending.is_pending(id) then
      return M.close(id)
    end
    M.close(id)
    reason = vim.trim(reason)
    require("codetether.approvals").reject(id, reason ~= "" and reason or nil)
  end)
end

---`q`: close the float, the gate waits.
---@param id string
function M.later(id)
  M.close(id)
  if pending.is_pending(id) then
    log.notify(vim.log.levels.INFO, "the objective waits for you: :Codetether pending")
  end
end

---Open (or focus) the float of OKR gate `a`.
---@param a codetether.Approval
---@return integer? win
function M.open(a)
  local f = M.floats[a.id]
  if f and vim.api.nvim_win_is_valid(f.win) then
    vim.api.nvim_set_current_win(f.win)
    return f.win
  end
  M.close(a.id)
  local width = math.max(40, math.min(80, vim.o.columns - 4))
  local text, title = M.render(a)
  local lines = wrap(text, width - 2)
  table.insert(lines, "")
  table.insert(lines, M.FOOTER) -- in the text, not only the border: screen readers read buffers
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.tbl_map(function(l)
    return l ~= "" and " " .. l or l
  end, lines))
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = M.FILETYPE
  pcall(vim.api.nvim_buf_set_name, buf, "codetether://okr/" .. a.id)
  local attempt = type(a.okr) == "table" and tonumber(a.okr.attempt) or nil
  local height = math.max(1, math.min(#lines, vim.o.lines - 4))
  local win = vim.api.nvim_open_win(buf, true, {
    relative = "editor",
    width = width,
    height = height,
    row = math.max(0, math.floor((vim.o.lines - height) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    style = "minimal",
    border = "rounded",
    title = attempt and attempt > 1 and (" codetether /go: approve objective (draft %d) "):format(attempt)
      or " codetether /go: approve objective ",
    title_pos = "center",
  })
  vim.wo[win].wrap = true
  vim.wo[win].cursorline = false
  M.floats[a.id] = { win = win, buf = buf }
  local id = a.id
  local function map(lhs, fn, desc)
    vim.keymap.set("n", lhs, function()
      fn(id)
    end, { buffer = buf, nowait = true, desc = desc })
  end
  map("a", M.approve, "codetether: approve the objective " .. title)
  map("d", M.deny, "codetether: deny the objective (asks why)")
  map("q", M.later, "codetether: decide later (:Codetether pending)")
  map("<Esc>", M.later, "codetether: decide later (:Codetether pending)")
  -- Leaving the float by other means (a window command) counts as "later", not a decision.
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = buf,
    once = true,
    callback = function()
      if M.floats[id] and M.floats[id].buf == buf then
        M.floats[id] = nil
      end
    end,
  })
  return win
end

---`codetether/resolved`: decided (here or elsewhere) or withdrawn: the float goes.
---@param params { id: string }
function M.on_resolved(params)
  M.close(params.id)
end

return M
