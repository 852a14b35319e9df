---A status-line component: `require("codetether.status").statusline()` → "ct 1.2k tok $0.00 ctx 12% OK".
local M = {}

---@class codetether.Status
---@field session_id string?
---@field model string?
---@field busy boolean?
---@field input_tokens integer?
---@field output_tokens integer?
---@field cost number?
---@field context { current: integer, limit: integer, percent: number, level: string }?

---@type codetether.Status?
M.current = nil

---@param params codetether.Status? nil when the server went away
function M.update(params)
  M.current = params
  vim.cmd.redrawstatus({ bang = true })
end

---A turn ended: drop "RUN" at once, whatever the last push said (E4).
function M.idle()
  if M.current and M.current.busy then
    M.current = vim.tbl_extend("force", M.current, { busy = false })
    vim.cmd.redrawstatus({ bang = true })
  end
end

---@param n number
local function human(n)
  if n >= 1e6 then
    return ("%.1fM"):format(n / 1e6)
  elseif n >= 1e3 then
    return ("%.1fk"):format(n / 1e3)
  end
  return tostring(math.floor(n))
end

---@param s codetether.Status?
---@return string
function M.format(s)
  if not s then
    return ""
  end
  local tokens = (tonumber(s.input_tokens) or 0) + (tonumber(s.output_tokens) or 0)
  local ctx = type(s.context) == "table" and s.context or {}
  local level = type(ctx.level) == "string" and ctx.level ~= "" and ctx.level:upper() or "OK"
  local state = s.busy and "RUN" or level
  if state == "NORMAL" then
    state = "OK"
  end
  return ("ct %s tok $%.2f ctx %d%% %s"):format(human(tokens), tonumber(s.cost) or 0, math.floor(tonumber(ctx.percent) or 0), state)
end

---The component; empty when no server has reported yet.
---@return string
function M.statusline()
  return M.format(M.current)
end

---Ask the server now (`:Codetether status`).
---@param cb fun(s: codetether.Status?)?
function M.refresh(cb)
  require("codetether.lsp").exec("codetether.status", {}, function(err, result)
    if not err and result then
      M.update(result)
    end
    if cb then
      cb(result)
    end
  end)
end

return M
