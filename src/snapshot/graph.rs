//! The person side of the role graph: for each person, the roles they hold
//! (the entity side is [`Snapshot::roles`] itself). Built once per run as
//! two integer arrays, so propagation walks the whole province's graph
//! without a string or a hash map.

use super::{EntityId, RoleRow, Snapshot};

/// Roles by person: the roles of person `p` are
/// `roles[offsets[p]..offsets[p + 1]]`, as global indices into
/// `Snapshot::roles`, ordered by entity.
pub struct RoleGraph {
    offsets: Vec<u32>,
    roles: Vec<u32>,
}

impl RoleGraph {
    pub fn new(s: &Snapshot) -> RoleGraph {
        // Rows are grouped by entity in id order, so each person's list
        // comes out ordered by entity.
        let (offsets, roles) = super::place::counting_sort(
            super::place::parts(s.roles.len()),
            s.persons.len(),
            s.roles.rows(),
            |r| r.person() as usize,
            |i, _| i as u32,
        );
        RoleGraph { offsets, roles }
    }

    /// (entity, role) pairs of a person.
    pub fn of_person<'a>(&'a self, s: &'a Snapshot, person: u32) -> impl Iterator<Item = (EntityId, &'a RoleRow)> + 'a {
        let (a, b) = (self.offsets[person as usize] as usize, self.offsets[person as usize + 1] as usize);
        self.roles[a..b].iter().map(move |&i| (s.roles.entity_of(i as usize), &s.roles.rows()[i as usize]))
    }
}
