//! Property tests: row-order independence, shards, assignment constraints.
use super::fixtures as common;

use std::collections::{HashMap, HashSet};

use credo::draw::*;
use proptest::prelude::*;

const ITEMS: [(&str, &str); 6] =
    [("EM", "EM-01"), ("EM", "EM-02"), ("MPA", "MPA-03"), ("MPA", "MPA-05"), ("MR", "MR-01"), ("MR", "MR-02")];
const CITIES: [u32; 2] = [370100, 370200];
const DEPTS: [&str; 4] = ["EM", "MPA", "MR", "TAX"];

#[derive(Debug, Clone)]
struct E {
    stratum: usize,
    prob: u32,
    excluded: bool,
    city: usize,
    items: Vec<usize>,
    persons: Vec<u32>,
    recent: Vec<usize>,
}

#[derive(Debug, Clone)]
struct O {
    dept: usize,
    city: usize,
    quals: Vec<usize>,
    active: bool,
    persons: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Spec {
    strata: Vec<Option<(u32, u32)>>,
    entities: Vec<E>,
    officers: Vec<O>,
    per_visit: u32,
    cap: u32,
}

fn spec() -> impl Strategy<Value = Spec> {
    let strata =
        prop::collection::vec(prop_oneof![Just(None), (0u32..=1_000_000, 0u32..=600_000).prop_map(Some)], 1..4);
    let officer = (
        0usize..4,
        0usize..2,
        prop::collection::vec(0usize..6, 0..6),
        prop::bool::weighted(0.85),
        prop::collection::vec(0u32..25, 1..3),
    )
        .prop_map(|(dept, city, quals, active, persons)| O { dept, city, quals, active, persons });
    (strata, prop::collection::vec(officer, 0..30), 2u32..4, 1u32..4).prop_flat_map(
        |(strata, officers, per_visit, cap)| {
            let ns = strata.len();
            let nof = officers.len().max(1);
            let entity = (
                0..ns,
                prop_oneof![Just(0u32), Just(1_000_000u32), 0u32..=1_000_000],
                prop::bool::weighted(0.15),
                0usize..2,
                prop::collection::vec(0usize..6, 1..4),
                prop::collection::vec(0u32..25, 0..3),
                prop::collection::vec(0..nof, 0..2),
            )
                .prop_map(|(stratum, prob, excluded, city, items, persons, recent)| E {
                    stratum,
                    prob,
                    excluded,
                    city,
                    items,
                    persons,
                    recent,
                });
            (Just(strata), prop::collection::vec(entity, 0..40), Just(officers), Just(per_visit), Just(cap)).prop_map(
                |(strata, entities, officers, per_visit, cap)| Spec { strata, entities, officers, per_visit, cap },
            )
        },
    )
}

fn officer_id(i: usize) -> String {
    format!("OFF-{i:03}")
}

fn strata(s: &Spec) -> Vec<Stratum> {
    s.strata
        .iter()
        .enumerate()
        .map(|(i, m)| Stratum {
            key: format!("s{i}"),
            mode: match m {
                None => StratumMode::Probability,
                Some((r, m)) => StratumMode::Quota { ratio_ppm: *r, min_ratio_ppm: *m },
            },
        })
        .collect()
}

fn officers(s: &Spec) -> Vec<Officer> {
    s.officers
        .iter()
        .enumerate()
        .map(|(i, o)| Officer {
            officer_id: officer_id(i),
            department: DEPTS[o.dept].into(),
            city: CITIES[o.city],
            qualifications: o.quals.iter().map(|&q| ITEMS[q].1.to_string()).collect(),
            active: o.active,
            persons: o.persons.iter().map(|&p| common::person(p)).collect(),
        })
        .collect()
}

/// Builds a frame holding the entities at `rows`, pushed in that order.
fn build(s: &Spec, rows: &[usize]) -> Frame {
    let mut b = FrameBuilder::new(common::plan(s.per_visit, s.cap), strata(s), officers(s)).unwrap();
    for &i in rows {
        let e = &s.entities[i];
        let items: Vec<(&str, &str)> = e.items.iter().map(|&k| ITEMS[k]).collect();
        let persons: Vec<_> = e.persons.iter().map(|&p| common::person(p)).collect();
        let recent: Vec<String> = e.recent.iter().map(|&r| officer_id(r)).collect();
        let recent: Vec<&str> = recent.iter().map(String::as_str).collect();
        let stratum = format!("s{}", e.stratum);
        b.push(NewEntity {
            uscc: common::uscc(370102 + e.city as u32, i as u64 * 7 + 1),
            stratum: &stratum,
            probability_ppm: e.prob,
            exclusion: e.excluded.then_some("excluded for the test"),
            city: CITIES[e.city],
            items: &items,
            persons: &persons,
            recent_officers: &recent,
        })
        .unwrap();
    }
    b.build().unwrap()
}

fn seed(n: u8) -> Seed {
    Seed(sha256(&[n; 8]))
}

/// Naive selection: per stratum, straight from the definition.
fn naive_selection(f: &Frame, seed: &Seed) -> Vec<(u64, credo::model::Uscc)> {
    let pops = f.populations();
    let mut out = Vec::new();
    for (si, s) in f.strata().iter().enumerate() {
        let mut members: Vec<(u64, credo::model::Uscc)> = f
            .entities()
            .filter(|e| e.is_eligible() && e.stratum_index() == si)
            .map(|e| (entity_ticket(seed, &e.uscc()), e.uscc()))
            .collect();
        members.sort();
        match s.mode {
            StratumMode::Probability => {
                out.extend(members.iter().filter(|(t, u)| {
                    (*t as u128) < probability_threshold(f.entity(f.find(u).unwrap()).probability_ppm())
                }))
            }
            StratumMode::Quota { ratio_ppm, min_ratio_ppm } => {
                out.extend(members.iter().take(quota_target(pops[si], ratio_ppm, min_ratio_ppm) as usize))
            }
        }
    }
    out.sort();
    out
}

/// Naive assignment straight from the spec: the team each visit gets, or
/// None if unstaffed.
fn naive_teams(f: &Frame, seed: &Seed, visits: &[Visit]) -> Vec<Option<Vec<String>>> {
    let plan = f.plan();
    let mut load: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::new();
    for v in visits {
        let e = f.entity(f.find(&v.uscc).unwrap());
        let mut depts: Vec<&str> = v.items.iter().map(|i| i.department.as_str()).collect();
        depts.sort();
        depts.dedup();
        let mut cands: Vec<(u64, String, String)> = f
            .officers()
            .iter()
            .filter(|o| {
                o.active
                    && o.city == e.city()
                    && depts.contains(&o.department.as_str())
                    && v.items
                        .iter()
                        .filter(|i| i.department == o.department)
                        .all(|i| o.qualifications.contains(&i.code))
                    && !o.persons.iter().any(|p| e.persons().contains(p))
                    && !e.recent_officers().any(|r| r == o.officer_id)
                    && load.get(&o.officer_id).copied().unwrap_or(0) < plan.max_visits_per_officer
            })
            .map(|o| (officer_ticket(seed, &v.uscc, &o.officer_id), o.officer_id.clone(), o.department.clone()))
            .collect();
        cands.sort();
        let mut team: Vec<(u64, String, String)> = Vec::new();
        let mut ok = true;
        for d in &depts {
            match cands.iter().find(|c| c.2 == *d) {
                Some(c) => team.push(c.clone()),
                None => ok = false,
            }
        }
        for c in &cands {
            if team.len() >= plan.officers_per_visit as usize {
                break;
            }
            if !team.contains(c) {
                team.push(c.clone());
            }
        }
        if !ok || team.len() < plan.officers_per_visit as usize {
            out.push(None);
            continue;
        }
        team.sort();
        for c in &team {
            *load.entry(c.1.clone()).or_default() += 1;
        }
        out.push(Some(team.into_iter().map(|c| c.1).collect()));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn row_order_does_not_matter(s in spec(), perm_seed in any::<u64>(), n in any::<u8>()) {
        let rows: Vec<usize> = (0..s.entities.len()).collect();
        let mut shuffled = rows.clone();
        // Fisher-Yates with a simple LCG: only the test needs randomness here.
        let mut x = perm_seed | 1;
        for i in (1..shuffled.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (x >> 33) as usize % (i + 1));
        }
        let a = build(&s, &rows);
        let b = build(&s, &shuffled);
        prop_assert_eq!(a.hash(), b.hash());
        prop_assert_eq!(draw_with_seed(&a, &seed(n)).unwrap(), draw_with_seed(&b, &seed(n)).unwrap());
    }

    #[test]
    fn shards_merge_to_the_whole(s in spec(), parts in prop::collection::vec(0usize..3, 40), n in any::<u8>()) {
        let whole = build(&s, &(0..s.entities.len()).collect::<Vec<_>>());
        let seed = seed(n);
        let expected = draw_with_seed(&whole, &seed).unwrap();
        let pops = whole.populations();
        let shards: Vec<Frame> = (0..3)
            .map(|p| build(&s, &(0..s.entities.len()).filter(|&i| parts[i] == p).collect::<Vec<_>>()))
            .collect();
        let selections: Vec<ShardSelection> = shards.iter().map(|f| select_shard(f, &seed, &pops).unwrap()).collect();
        let merged = merge(&selections).unwrap();
        let refs: Vec<&Frame> = shards.iter().collect();
        prop_assert_eq!(assign(&merged, &refs, &seed).unwrap(), expected);
    }

    #[test]
    fn staffed_visits_satisfy_every_constraint(s in spec(), n in any::<u8>()) {
        let f = build(&s, &(0..s.entities.len()).collect::<Vec<_>>());
        let seed = seed(n);
        let r = draw_with_seed(&f, &seed).unwrap();
        let plan = f.plan();
        // The selection is exactly the naive one, in processing order.
        let picked: Vec<_> = r.visits.iter().map(|v| (v.ticket, v.uscc)).collect();
        prop_assert_eq!(&picked, &naive_selection(&f, &seed));
        let teams: Vec<Option<Vec<String>>> = r.visits.iter().map(|v| match &v.outcome {
            Outcome::Staffed(t) => Some(t.clone()),
            Outcome::Unstaffed(_) => None,
        }).collect();
        prop_assert_eq!(teams, naive_teams(&f, &seed, &r.visits));
        let total: u64 = r.counts.iter().map(|c| c.selected).sum();
        prop_assert_eq!(total as usize, r.visits.len());
        let mut seen = HashSet::new();
        let mut load: HashMap<&str, u32> = HashMap::new();
        let by_id: HashMap<&str, &Officer> = f.officers().iter().map(|o| (o.officer_id.as_str(), o)).collect();
        for v in &r.visits {
            prop_assert!(seen.insert(v.uscc), "entity {} visited twice", v.uscc);
            let e = f.entity(f.find(&v.uscc).unwrap());
            prop_assert!(e.is_eligible());
            let depts: HashSet<&str> = v.items.iter().map(|i| i.department.as_str()).collect();
            match &v.outcome {
                Outcome::Unstaffed(reason) => prop_assert!(!reason.is_empty()),
                Outcome::Staffed(team) => {
                    prop_assert!(team.len() >= plan.officers_per_visit as usize);
                    let team_set: HashSet<&str> = team.iter().map(String::as_str).collect();
                    prop_assert_eq!(team_set.len(), team.len());
                    for d in &depts {
                        prop_assert!(team.iter().any(|o| by_id[o.as_str()].department == *d), "no officer of {}", d);
                    }
                    for id in team {
                        let o = by_id[id.as_str()];
                        prop_assert!(o.active);
                        prop_assert_eq!(o.city, e.city());
                        prop_assert!(depts.contains(o.department.as_str()));
                        for it in v.items.iter().filter(|i| i.department == o.department) {
                            prop_assert!(o.qualifications.contains(&it.code), "{} not qualified for {}", id, it.code);
                        }
                        prop_assert!(!o.persons.iter().any(|p| e.persons().contains(p)), "conflict {}", id);
                        prop_assert!(!e.recent_officers().any(|x| x == id), "recent {}", id);
                        let l = load.entry(id.as_str()).or_default();
                        *l += 1;
                        prop_assert!(*l <= plan.max_visits_per_officer, "cap exceeded for {}", id);
                    }
                    // Rank order.
                    let tickets: Vec<(u64, &str)> = team.iter().map(|id| (officer_ticket(&seed, &v.uscc, id), id.as_str())).collect();
                    prop_assert!(tickets.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }
}
