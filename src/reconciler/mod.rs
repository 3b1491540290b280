//! The generic managed-resource reconciler and the three kinds' AWS logic.

pub mod conditions;
