-- Sample objects for the Argo CD health scripts (harness.lua), one per state, shaped as
-- the operator writes them (src/reconciler/generic.rs, service.rs): status.conditions are
-- metav1.Conditions with observedGeneration; status.observedGeneration.

local T = "2025-01-01T00:00:00Z"

local function cond(ctype, status, reason, message, gen)
  return { type = ctype, status = status, reason = reason, message = message or "",
           observedGeneration = gen, lastTransitionTime = T }
end

-- object(kind, generation, status-or-nil, extra metadata)
local function object(kind, gen, status, meta)
  local m = { name = "sample", namespace = "team-a", generation = gen, uid = "0000",
              finalizers = { "ecsoperator.io/finalizer" } }
  for k, v in pairs(meta or {}) do
    m[k] = v
  end
  return { apiVersion = "ecsoperator.io/v1alpha1", kind = kind, metadata = m,
           spec = {}, status = status }
end

local function ready(gen, msg)
  return { observedGeneration = gen, conditions = {
    cond("Ready", "True", "ReconcileSuccess", msg, gen),
    cond("Synced", "True", "ReconcileSuccess", "AWS matches the spec", gen),
    cond("Stalled", "False", "ReconcileSuccess", "", gen),
  } }
end

local function retrying(gen, reason, msg)
  return { observedGeneration = gen, conditions = {
    cond("Ready", "False", reason, msg, gen),
    cond("Synced", "False", reason, msg, gen),
    cond("Stalled", "False", reason, "", gen),
  } }
end

local function stalled(gen, reason, msg)
  return { observedGeneration = gen, conditions = {
    cond("Ready", "False", reason, msg, gen),
    cond("Synced", "False", reason, msg, gen),
    cond("Stalled", "True", reason, msg, gen),
  } }
end

local cases = {}
local function add(kind, name, obj, status, message, contains)
  table.insert(cases, { kind = kind, name = name, obj = obj, status = status,
                        message = message, message_contains = contains })
end

for _, kind in ipairs({ "EcsCluster", "EcsTaskDef", "EcsService" }) do
  add(kind, "no status yet", object(kind, 1, nil), "Progressing",
      "Waiting for the operator to reconcile the object")
  add(kind, "empty conditions", object(kind, 1, { conditions = {} }), "Progressing",
      "Waiting for the operator to reconcile the object")
  add(kind, "Ready=True for the current generation", object(kind, 3, ready(3, "all good")),
      "Healthy", "all good")
  add(kind, "Ready=True but a newer spec not observed yet", object(kind, 4, ready(3, "all good")),
      "Progressing", "Waiting for the operator to observe generation 4")
  add(kind, "status without observedGeneration", object(kind, 1, { conditions = {
        cond("Ready", "True", "ReconcileSuccess", "ok", nil) } }),
      "Progressing", "Waiting for the operator to observe generation 1")
  local stale_ready = ready(5, "old news")
  stale_ready.conditions[1].observedGeneration = 4
  add(kind, "Ready condition of an older generation", object(kind, 5, stale_ready),
      "Progressing", "old news")
  add(kind, "reconciling after an AWS error (retrying)",
      object(kind, 2, retrying(2, "ReconcileError", "ecs:CreateCluster: internal error; retrying")),
      "Progressing", "ecs:CreateCluster: internal error; retrying")
  add(kind, "throttled", object(kind, 2, retrying(2, "Throttled", "throttled by AWS")),
      "Progressing", "throttled by AWS")
  add(kind, "waiting for a dependency",
      object(kind, 1, retrying(1, "WaitingForDependency", "EcsCluster my-cluster is not Ready")),
      "Progressing", "EcsCluster my-cluster is not Ready")
  add(kind, "Stalled=True (bad input)",
      object(kind, 2, stalled(2, "InvalidSpec", "spec.capacity.minSize must not exceed maxSize")),
      "Degraded", "spec.capacity.minSize must not exceed maxSize")
  add(kind, "Stalled=True (name conflict)",
      object(kind, 1, stalled(1, "Conflict", "an ECS resource named x exists and is not ours; set ecsoperator.io/adopt")),
      "Degraded", "an ECS resource named x exists and is not ours; set ecsoperator.io/adopt")
  add(kind, "Stalled=True of an older generation (spec changed since)",
      object(kind, 3, stalled(2, "InvalidSpec", "bad")),
      "Progressing", "Waiting for the operator to observe generation 3")
  local del = retrying(2, "Deleting", "waiting for 2 ECS services to be deleted")
  add(kind, "terminating (deletionTimestamp)",
      object(kind, 2, del, { deletionTimestamp = T }),
      "Progressing", "waiting for 2 ECS services to be deleted")
  add(kind, "terminating with a Ready status",
      object(kind, 2, ready(2, "fine"), { deletionTimestamp = T }),
      "Progressing", "Deleting")
  add(kind, "terminating before any status",
      object(kind, 1, nil, { deletionTimestamp = T }), "Progressing", "Deleting")
  add(kind, "stalled while terminating",
      object(kind, 2, stalled(2, "AccessDenied", "not authorized to perform ecs:DeleteCluster"), { deletionTimestamp = T }),
      "Degraded", "not authorized to perform ecs:DeleteCluster")
  local paused = retrying(1, "Paused", "reconciliation is paused")
  add(kind, "paused by annotation",
      object(kind, 1, paused, { annotations = { ["ecsoperator.io/paused"] = "true" } }),
      "Suspended", nil, "paused")
  add(kind, "paused annotation set to false",
      object(kind, 1, ready(1, "ok"), { annotations = { ["ecsoperator.io/paused"] = "false" } }),
      "Healthy", "ok")
end

-- EcsService rollouts: the Progressing condition.
local function service_status(gen, ready_status, ready_reason, ready_msg, p_status, p_reason, p_msg)
  return { observedGeneration = gen, desiredCount = 4, runningCount = 2, conditions = {
    cond("Ready", ready_status, ready_reason, ready_msg, gen),
    cond("Synced", "True", "ReconcileSuccess", "AWS matches the spec", gen),
    cond("Stalled", "False", "ReconcileSuccess", "", gen),
    cond("Progressing", p_status, p_reason, p_msg, gen),
  } }
end

add("EcsService", "deployment rolling out (Progressing=True)",
    object("EcsService", 2, service_status(2, "False", "DeploymentInProgress", "2/4 tasks running",
                                           "True", "DeploymentInProgress", "rolling out hello:3: 2/4 tasks running")),
    "Progressing", "rolling out hello:3: 2/4 tasks running")
add("EcsService", "deployment completed",
    object("EcsService", 2, service_status(2, "True", "ReconcileSuccess", "4/4 tasks running, deployment completed",
                                           "False", "DeploymentCompleted", "no deployment in progress")),
    "Healthy", "4/4 tasks running, deployment completed")
add("EcsService", "deployment failed (circuit breaker)",
    object("EcsService", 2, service_status(2, "False", "DeploymentFailed", "deployment failed: rolled back to hello:2",
                                           "False", "DeploymentFailed", "deployment failed: rolled back to hello:2")),
    "Degraded", "deployment failed: rolled back to hello:2")
add("EcsService", "Stalled wins over a stale Progressing=True",
    object("EcsService", 2, (function()
      local s = service_status(2, "False", "InvalidSpec", "bad launch type", "True", "DeploymentInProgress", "rolling")
      s.conditions[3] = cond("Stalled", "True", "InvalidSpec", "bad launch type", 2)
      return s
    end)()),
    "Degraded", "bad launch type")

return cases
