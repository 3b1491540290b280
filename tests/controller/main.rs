//! Controller tests: the three kinds' AWS logic (`ManagedResource::sync` / `cleanup`)
//! against the in-memory `FakeAws`, with hand-built objects and dependencies.
//!
//! The generic reconciler (Kubernetes reads and status writes) is not involved: each test
//! feeds the status a sync returns back into the object, as the reconciler's status write
//! would, adds the Event the reconciler reports for the sync's corrections to its notes,
//! and advances AWS time with `FakeAws::tick`.

mod support;

mod autoscaling;
mod bulk_observation;
mod capacity;
mod deletion;
mod drift;
mod faults;
mod load_balancers;
mod ownership;
mod preflight;
mod revisions;
mod tags;
mod target_groups;
mod tutorial;
