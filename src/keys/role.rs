//! Roles and what each may do. Pure.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including stock adjustments and key management.
    Admin,
    /// Reserve, commit, release, extend; read stock, reservations and allocations.
    Service,
    /// Read only.
    Merchandiser,
    /// Only post poll responses.
    Poller,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Reserve,
    AdjustStock,
    PostPollResponses,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Service => "service",
            Role::Merchandiser => "merchandiser",
            Role::Poller => "poller",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "admin" => Role::Admin,
            "service" => Role::Service,
            "merchandiser" => Role::Merchandiser,
            "poller" => Role::Poller,
            _ => return None,
        })
    }

    pub fn allows(self, action: Action) -> bool {
        match self {
            Role::Admin => true,
            Role::Service => matches!(action, Action::Read | Action::Reserve),
            Role::Merchandiser => action == Action::Read,
            Role::Poller => action == Action::PostPollResponses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_only_their_actions() {
        use Action::*;
        let all = [Read, Reserve, AdjustStock, PostPollResponses];
        let allowed = |role: Role| all.iter().filter(|a| role.allows(**a)).count();
        assert_eq!(allowed(Role::Admin), 4);
        assert!(Role::Service.allows(Reserve) && !Role::Service.allows(AdjustStock));
        assert!(Role::Merchandiser.allows(Read) && !Role::Merchandiser.allows(Reserve));
        assert!(Role::Poller.allows(PostPollResponses) && !Role::Poller.allows(Read));
    }
}
