//! The roles of the control socket, and the policy groups granting them.

use crate::core::policy::Policy;

/// A role of the control socket; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Anyone who can connect.
    Anyone,
    /// list, show, status, plan.
    Viewer,
    /// + add, extend.
    Operator,
    /// + release and every privileged action.
    Supervisor,
}

impl Role {
    /// The group granting this role.
    pub fn group(self, policy: &Policy) -> &str {
        match self {
            Role::Anyone => "",
            Role::Viewer => &policy.roles.viewers,
            Role::Operator => &policy.roles.operators,
            Role::Supervisor => &policy.roles.supervisors,
        }
    }
}
