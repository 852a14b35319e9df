---A log file under stdpath("log"), filtered by `log_level`.
local M = {}

local levels = vim.log.levels
local names = {}
for name, n in pairs(levels) do
  names[n] = name
end

M.level = levels.WARN

---@return string
function M.path()
  return vim.fn.stdpath("log") .. "/codetether.log"
end

local function write(level, fmt, ...)
  if level < M.level then
    return
  end
  local ok, msg = pcall(string.format, fmt, ...)
  if not ok then
    msg = fmt .. " " .. vim.inspect({ ... })
  end
  local dir = vim.fn.stdpath("log")
  vim.fn.mkdir(dir, "p")
  local f = io.open(M.path(), "a")
  if f then
    f:write(("%s[%s] %s\n"):format(os.date("%Y-%m-%d %H:%M:%S "), names[level] or level, msg))
    f:close()
  end
end

for name, n in pairs(levels) do
  if name ~= "OFF" then
    M[name:lower()] = function(fmt, ...)
      write(n, fmt, ...)
    end
  end
end

---An LSP error's message for people: no Python class path in front (E7).
---@param err { message: string? }|string|nil
---@return string
function M.plain(err)
  local msg = type(err) == "table" and err.message or err
  if type(msg) ~= "string" or msg == "" then
    return "failed"
  end
  msg = msg:gsub("^[%w_]+%.[%w_%.]*%.(%u[%w_]*): ", "")
  return (msg:gsub("\n.*", ""))
end

---Log and show a message to the user.
---@param level integer
function M.notify(level, fmt, ...)
  write(level, fmt, ...)
  local msg = select("#", ...) > 0 and fmt:format(...) or fmt
  vim.notify("codetether: " .. msg, level)
end

return M
