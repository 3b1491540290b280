-- Runs the Argo CD health scripts of config/argocd against the sample objects of
-- cases.lua, the way Argo CD does: the script runs as a chunk with the object in the
-- global `obj` and only the base, string, table and math libraries, and returns a table
-- with `status` and `message`.
--
--   lua5.1 tests/packaging/argocd/harness.lua <config/argocd dir> <cases.lua>
-- Prints one line per case; exits 1 when any case fails.

local dir, cases_file = arg[1], arg[2]
if dir == nil or cases_file == nil then
  io.stderr:write("usage: lua5.1 harness.lua <config/argocd dir> <cases.lua>\n")
  os.exit(2)
end

local VALID = { Healthy = true, Progressing = true, Degraded = true, Suspended = true, Missing = true, Unknown = true }

local function read(path)
  local f, err = io.open(path, "r")
  if f == nil then
    error("cannot read " .. path .. ": " .. tostring(err))
  end
  local s = f:read("*a")
  f:close()
  return s
end

-- A deep copy, so that a script that modifies obj cannot affect later cases.
local function copy(v)
  if type(v) ~= "table" then
    return v
  end
  local t = {}
  for k, x in pairs(v) do
    t[k] = copy(x)
  end
  return t
end

local function run(kind, object)
  local path = dir .. "/ecsoperator.io_" .. kind .. ".lua"
  local chunk, err = loadstring(read(path), "@" .. path)
  if chunk == nil then
    return nil, "does not compile: " .. tostring(err)
  end
  local env = {
    obj = copy(object),
    ipairs = ipairs, pairs = pairs, next = next, type = type, select = select,
    tostring = tostring, tonumber = tonumber, error = error, assert = assert,
    pcall = pcall, unpack = unpack, print = print,
    string = string, table = table, math = math,
  }
  setfenv(chunk, env)
  local ok, hs = pcall(chunk)
  if not ok then
    return nil, "raised an error: " .. tostring(hs)
  end
  if type(hs) ~= "table" then
    return nil, "returned " .. type(hs) .. ", not a table"
  end
  if not VALID[hs.status] then
    return nil, "returned the invalid status " .. tostring(hs.status)
  end
  if type(hs.message) ~= "string" then
    return nil, "returned a message of type " .. type(hs.message)
  end
  return hs
end

local cases = dofile(cases_file)
local failed, passed = 0, 0
for _, c in ipairs(cases) do
  local hs, err = run(c.kind, c.obj)
  local problem = err
  if hs ~= nil then
    if hs.status ~= c.status then
      problem = string.format("status %s, want %s (message %q)", hs.status, c.status, hs.message)
    elseif c.message ~= nil and hs.message ~= c.message then
      problem = string.format("message %q, want %q", hs.message, c.message)
    elseif c.message_contains ~= nil and string.find(hs.message, c.message_contains, 1, true) == nil then
      problem = string.format("message %q does not contain %q", hs.message, c.message_contains)
    end
  end
  if problem ~= nil then
    failed = failed + 1
    print(string.format("FAIL %s: %s: %s", c.kind, c.name, problem))
  else
    passed = passed + 1
    print(string.format("ok   %s: %s -> %s", c.kind, c.name, hs.status))
  end
end
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 or passed == 0 then
  os.exit(1)
end
