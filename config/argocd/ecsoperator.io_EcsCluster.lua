-- Argo CD health check of ecsoperator.io/EcsCluster
-- (argocd-cm key resource.customizations.health.ecsoperator.io_EcsCluster).
-- Healthy: Ready=True for the current generation. Degraded: Stalled=True (the operator
-- cannot go on without a change to the object). Suspended: paused by annotation.
-- Progressing: anything else (no status yet, a spec change not observed yet, reconciling,
-- waiting for a dependency, retrying, deleting).
local hs = {}

local function condition(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function message_of(c, default)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return default
end

local meta = obj.metadata or {}
local generation = meta.generation
local annotations = meta.annotations or {}

if annotations["ecsoperator.io/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Reconciliation is paused by the annotation ecsoperator.io/paused"
  return hs
end

if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
  hs.status = "Progressing"
  if meta.deletionTimestamp ~= nil then
    hs.message = "Deleting"
  else
    hs.message = "Waiting for the operator to reconcile the object"
  end
  return hs
end

if generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = message_of(stalled, "Stalled: " .. tostring(stalled.reason))
  return hs
end

local ready = condition("Ready")

if meta.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  if ready ~= nil and ready.reason == "Deleting" then
    hs.message = message_of(ready, "Deleting")
  else
    hs.message = "Deleting"
  end
  return hs
end

if ready ~= nil and ready.status == "True" and (generation == nil or ready.observedGeneration == nil or ready.observedGeneration == generation) then
  hs.status = "Healthy"
  hs.message = message_of(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = message_of(ready, "Waiting for the object to become Ready")
return hs
