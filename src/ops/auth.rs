//! Who is asking, and whether they may: the caller (from the kernel,
//! never from the request) and its role from the policy's groups.

use crate::core::policy::Policy;
use crate::core::roles::Role;
use crate::ops::OpError;

/// Who is asking (from the kernel, never from the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id.
    pub uid: u32,
    /// User name ("uid 1234" when the uid has no name).
    pub user: String,
}

impl Caller {
    /// The caller with this uid, named from the user database.
    pub fn from_uid(uid: u32) -> Caller {
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| format!("uid {uid}"));
        Caller { uid, user }
    }

    /// This process's real user.
    pub fn current() -> Caller {
        Caller::from_uid(nix::unistd::getuid().as_raw())
    }
}

/// The group ids `caller` belongs to (none when its uid has no name).
fn gids_of(caller: &Caller) -> Vec<nix::unistd::Gid> {
    let Some(user) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(caller.uid))
        .ok()
        .flatten()
    else {
        return Vec::new();
    };
    let Ok(name) = std::ffi::CString::new(user.name.clone()) else {
        return Vec::new();
    };
    nix::unistd::getgrouplist(&name, user.gid).unwrap_or_else(|_| vec![user.gid])
}

fn member_of(gids: &[nix::unistd::Gid], group: &str) -> bool {
    nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .is_some_and(|g| gids.contains(&g.gid))
}

/// Whether `caller` is a member of the Unix group `group` (root is not
/// special here: callers check for uid 0 themselves).
pub fn in_group(caller: &Caller, group: &str) -> bool {
    member_of(&gids_of(caller), group)
}

/// The highest role `caller` has under `policy` (root: supervisor).
pub fn role_of(caller: &Caller, policy: &Policy) -> Role {
    if caller.uid == 0 {
        return Role::Supervisor;
    }
    let gids = gids_of(caller);
    [Role::Supervisor, Role::Operator, Role::Viewer]
        .into_iter()
        .find(|r| member_of(&gids, r.group(policy)))
        .unwrap_or(Role::Anyone)
}

/// Checks that `caller` has `need` for `what`.
pub fn authorize(caller: &Caller, policy: &Policy, need: Role, what: &str) -> Result<(), OpError> {
    if need == Role::Anyone || role_of(caller, policy) >= need {
        Ok(())
    } else {
        Err(OpError::Denied {
            what: what.to_string(),
            group: need.group(policy).to_string(),
        })
    }
}
