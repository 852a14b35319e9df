---The chat buffer: the prompt, streamed text, tool calls as lines, done / error.
local M = {}

local BUFNAME = "codetether://chat"

---@type integer?
local buf
---Whether the last line is text still being streamed (the next chunk continues it).
local streaming = false

---@return integer
function M.buffer()
  if buf and vim.api.nvim_buf_is_valid(buf) then
    return buf
  end
  buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, BUFNAME)
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = "codetether-chat"
  streaming = false
  return buf
end

---Show the chat buffer in a window (reusing one that shows it).
function M.open()
  local b = M.buffer()
  local win = vim.fn.bufwinid(b)
  if win ~= -1 then
    return win
  end
  local split = require("codetether").options.chat_split
  local cur = vim.api.nvim_get_current_win()
  local cmds = { right = "botright vsplit", below = "botright split", tab = "tabnew", current = nil }
  if cmds[split] then
    vim.cmd(cmds[split])
  end
  win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(win, b)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  if split ~= "current" and split ~= "tab" then
    vim.api.nvim_set_current_win(cur) -- keep editing where the user was
  end
  return win
end

---@param fn fun(b: integer)
local function edit(fn)
  local b = M.buffer()
  vim.bo[b].modifiable = true
  fn(b)
  vim.bo[b].modifiable = false
  local win = vim.fn.bufwinid(b)
  if win ~= -1 then
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(b), 0 })
  end
end

local function is_empty(b)
  return vim.api.nvim_buf_line_count(b) == 1 and vim.api.nvim_buf_get_lines(b, 0, 1, false)[1] == ""
end

---Append whole lines.
---@param lines string[]
function M.append(lines)
  streaming = false
  edit(function(b)
    local from = is_empty(b) and 0 or -1
    vim.api.nvim_buf_set_lines(b, from, -1, false, lines)
  end)
end

---Continue the streamed text (chunks may hold newlines or split words).
---@param text string
function M.stream(text)
  edit(function(b)
    local parts = vim.split(text, "\n", { plain = true })
    if streaming then
      local last = vim.api.nvim_buf_line_count(b)
      local line = vim.api.nvim_buf_get_lines(b, last - 1, last, false)[1]
      parts[1] = line .. parts[1]
      vim.api.nvim_buf_set_lines(b, last - 1, last, false, parts)
    else
      vim.api.nvim_buf_set_lines(b, is_empty(b) and 0 or -1, -1, false, parts)
    end
  end)
  streaming = true
end

---Streamed tool output (bash) not yet ended by a newline, and how many lines each call
---has shown, by call id; past MAX_OUTPUT lines a call's output is elided.
local partial, shown = {}, {}
local MAX_OUTPUT = 200

---@param call_id string
---@param lines string[]
local function output_lines(call_id, lines)
  local out = {}
  for _, line in ipairs(lines) do
    shown[call_id] = (shown[call_id] or 0) + 1
    if shown[call_id] <= MAX_OUTPUT then
      table.insert(out, "    │ " .. line)
    elseif shown[call_id] == MAX_OUTPUT + 1 then
      table.insert(out, "    │ …")
    end
  end
  if #out > 0 then
    M.append(out)
  end
end

---`tool_output`: a piece of a running tool's output; whole lines go to the chat at once.
---@param e { call_id: string, text: string }
local function on_output(e)
  local parts = vim.split((partial[e.call_id] or "") .. (e.text or ""), "\n", { plain = true })
  partial[e.call_id] = table.remove(parts)
  output_lines(e.call_id, parts)
end

---A tool call ended: the rest of its output (no final newline) goes out first.
---@param call_id string?
local function flush_output(call_id)
  if call_id and partial[call_id] and partial[call_id] ~= "" then
    output_lines(call_id, { partial[call_id] })
  end
  if call_id then
    partial[call_id], shown[call_id] = nil, nil
  end
end

---A one-line summary of a tool call's JSON arguments.
---@param raw string
local function summarize(raw)
  local ok, args = pcall(vim.json.decode, raw or "")
  if not ok or type(args) ~= "table" then
    return (raw or ""):sub(1, 80)
  end
  local main = args.path or args.command or args.pattern or args.query or args.url or args.question
  if main then
    return tostring(main)
  end
  return vim.json.encode(args):sub(1, 80)
end

local function first_line(s)
  return (vim.split(s or "", "\n", { plain = true })[1] or ""):sub(1, 200)
end

---Lines for one non-text event, or nil to show nothing.
local render = {
  user = function(e)
    return nil -- already shown when sent from here; a resumed session shows it via history
  end,
  thinking = function()
    return nil
  end,
  tool_call_start = function(e)
    return { ("  ⚙ %s %s"):format(e.name, summarize(e.arguments)) }
  end,
  tool_call_end = function(e)
    if e.is_error then
      return { ("  ✗ %s: %s"):format(e.name, first_line(e.output)) }
    end
    return { ("  ✓ %s (%d ms)"):format(e.name, math.floor(e.duration_ms or 0)) }
  end,
  approval_request = function(e)
    if e.tool == "okr" then -- /go's gate: decided in its float (codetether.okr)
      return { ("  ? approve the objective: %s  (a approve, d deny, q later)"):format(first_line(e.subject)) }
    end
    return { ("  ? approve %s: %s"):format(e.tool, first_line(e.subject)) }
  end,
  approval_resolved = function(e)
    -- Say what happened to the user's code, not who decided what (E7).
    local rule = e.rule or ""
    local p = require("codetether.pending").known[e.approval_id]
    if p then
      local what = table.concat(p.rels, ", ")
      if e.decision == "allow" then
        return { ("  ✓ applied the change to %s"):format(what) }
      elseif e.by == "cancelled" then
        return { ("  ✗ change to %s withdrawn: the run was cancelled"):format(what) }
      elseif rule:find("changed since", 1, true) then
        return { ("  ✗ change to %s not applied: the buffer changed since the agent proposed it"):format(what) }
      elseif rule ~= "" and rule ~= "rejected in the editor" then
        return { ("  ✗ change to %s rejected: %s"):format(what, first_line(rule)) }
      end
      return { ("  ✗ change to %s rejected"):format(what) }
    end
    if e.tool == "okr" then
      if e.decision == "allow" then
        return { "  ✓ objective approved" }
      end
      return { ("  ✗ objective denied%s"):format(rule ~= "" and (": " .. first_line(rule)) or "") }
    end
    if e.decision == "allow" then
      return { ("  ✓ allowed %s%s"):format(e.tool, e.by == "policy" and " by policy" or "") }
    end
    if e.by == "cancelled" then
      return { ("  ✗ %s not run: the run was cancelled"):format(e.tool) }
    end
    return { ("  ✗ denied %s%s"):format(e.tool, rule ~= "" and (": " .. first_line(rule)) or "") }
  end,
  question = function(e)
    return { "  ? " .. first_line(e.question) }
  end,
  notice = function(e)
    return { "  ! " .. first_line(e.text) }
  end,
  compaction = function(e)
    return { ("  (compacted %d messages)"):format(e.summarized_messages) }
  end,
  done = function(e)
    return { ("── done (%s, %d steps)"):format(e.stop_reason, e.steps or 0), "" }
  end,
  error = function(e)
    return { ("!! error %s: %s"):format(tostring(e.code), first_line(e.message)) }
  end,
}

---A `codetether/event` notification.
---@param params { session_id: string, seq: integer, event: table }
function M.on_event(params)
  local e = params.event or {}
  if e.type == "text" then
    M.stream(e.text or "")
    return
  elseif e.type == "tool_output" then
    return on_output(e)
  elseif e.type == "tool_call_end" then
    flush_output(e.call_id)
  end
  local fn = render[e.type]
  local lines = fn and fn(e)
  if lines then
    M.append(lines)
  end
end

---Show the user's prompt.
---@param text string
function M.prompt(text)
  local lines = vim.split(text, "\n", { plain = true })
  lines[1] = "> " .. lines[1]
  M.append(lines)
end

---@return string[]
function M.lines()
  return vim.api.nvim_buf_get_lines(M.buffer(), 0, -1, false)
end

return M
