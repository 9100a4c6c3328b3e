//! Random meshed, multi-source networks under random switching: after every operation the
//! incremental index must agree with a naive BFS recomputation.

use fudian_grid::{
    AreaClass, Branch, BranchKind, Bus, Customer, Grid, GridParts, Operation, Source, SwitchDevice,
    Topology,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct RandomNetwork {
    buses: usize,
    sources: Vec<usize>,
    branches: Vec<(usize, usize, bool, bool)>,
    customers_per_bus: Vec<usize>,
}

fn network() -> impl Strategy<Value = RandomNetwork> {
    (2usize..24).prop_flat_map(|buses| {
        (
            Just(buses),
            prop::collection::vec(0..buses, 1..4),
            prop::collection::vec(
                (0..buses, 0..buses, any::<bool>(), prop::bool::weighted(0.2)),
                1..40,
            ),
            prop::collection::vec(0usize..3, buses),
        )
            .prop_map(
                |(buses, sources, branches, customers_per_bus)| RandomNetwork {
                    buses,
                    sources,
                    branches,
                    customers_per_bus,
                },
            )
    })
}

fn build(network: &RandomNetwork) -> Grid {
    let mut parts = GridParts::default();
    for i in 0..network.buses {
        parts.buses.push(Bus {
            id: format!("B{i}").into(),
            voltage_kv: 10.0,
            name: None,
            position: [118.0, 37.0],
        });
    }
    for (i, &bus) in network.sources.iter().enumerate() {
        parts.sources.push(Source {
            id: format!("SRC{i}").into(),
            bus: bus as u32,
            name: None,
            position: [118.0, 37.0],
        });
    }
    for (i, &(from, to, is_switch, open)) in network.branches.iter().enumerate() {
        parts.branches.push(Branch {
            id: format!("X{i}").into(),
            kind: if is_switch {
                BranchKind::Switch
            } else {
                BranchKind::Line
            },
            device: is_switch.then_some(if i % 3 == 0 {
                SwitchDevice::Breaker
            } else {
                SwitchDevice::LoadBreakSwitch
            }),
            from_bus: from as u32,
            to_bus: to as u32,
            in_service: true,
            normal_open: is_switch && open,
            remote_controlled: false,
            rated_kva: None,
            length_m: None,
            name: None,
            geometry: vec![[118.0, 37.0], [118.001, 37.0]].into_boxed_slice(),
        });
    }
    for (bus, &count) in network.customers_per_bus.iter().enumerate() {
        for k in 0..count {
            parts.customers.push(Customer {
                id: format!("C{bus}-{k}").into(),
                bus: bus as u32,
                position: [118.0, 37.0],
                area_class: AreaClass::Urban,
                name: None,
                phone: None,
                wechat_openid: None,
                channels: Box::new([]),
                critical: false,
                peak_kw: None,
            });
        }
    }
    Grid::from_parts(parts).unwrap()
}

fn customers_of(topology: &Topology, energized: &[bool]) -> Vec<u32> {
    let mut out: Vec<u32> = (0..energized.len())
        .filter(|&b| energized[b])
        .flat_map(|b| topology.customers_at(b as u32).to_vec())
        .collect();
    out.sort_unstable();
    out
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

fn check_against_naive(topology: &Topology) -> Result<(), TestCaseError> {
    let naive = topology.naive_energized(topology.conducting());
    for (bus, &on) in naive.iter().enumerate() {
        prop_assert_eq!(
            topology.is_energized(bus as u32),
            on,
            "bus {} energization",
            bus
        );
    }
    prop_assert_eq!(
        topology.energized_customer_count(),
        customers_of(topology, &naive).len()
    );
    for branch in 0..topology.branch_count() as u32 {
        let fast = topology.outage_if_opened(branch);
        let slow = sorted(topology.naive_outage_if_opened(branch));
        prop_assert_eq!(
            fast.customer_count(),
            slow.len(),
            "count when opening {}",
            branch
        );
        prop_assert_eq!(
            sorted(fast.customers.to_vec()),
            slow,
            "list when opening {}",
            branch
        );
    }
    Ok(())
}

fn operation(choice: (usize, u8), branches: usize) -> Operation {
    let branch = (choice.0 % branches) as u32;
    match choice.1 % 4 {
        0 => Operation::Open(branch),
        1 => Operation::Close(branch),
        2 => Operation::OutOfService(branch),
        _ => Operation::IntoService(branch),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn incremental_index_matches_naive_bfs_after_every_operation(
        network in network(),
        operations in prop::collection::vec((0usize..1000, 0u8..4), 1..30),
    ) {
        let grid = build(&network);
        let mut topology = Topology::new(&grid);
        check_against_naive(&topology)?;
        for choice in operations {
            let before = customers_of(&topology, &topology.naive_energized(topology.conducting()));
            let change = topology.apply(operation(choice, grid.branches.len()));
            let after = customers_of(&topology, &topology.naive_energized(topology.conducting()));
            let lost: Vec<u32> = before.iter().copied().filter(|c| after.binary_search(c).is_err()).collect();
            let restored: Vec<u32> = after.iter().copied().filter(|c| before.binary_search(c).is_err()).collect();
            prop_assert_eq!(sorted(change.lost), lost);
            prop_assert_eq!(sorted(change.restored), restored);
            check_against_naive(&topology)?;
        }
    }

    #[test]
    fn a_full_rebuild_gives_the_same_answers_as_the_incremental_index(
        network in network(),
        operations in prop::collection::vec((0usize..1000, 0u8..4), 1..20),
    ) {
        let grid = build(&network);
        let mut incremental = Topology::new(&grid);
        for choice in operations {
            incremental.apply(operation(choice, grid.branches.len()));
        }
        let mut rebuilt = incremental.clone();
        rebuilt.rebuild_all();
        for branch in 0..incremental.branch_count() as u32 {
            prop_assert_eq!(
                sorted(incremental.outage_if_opened(branch).customers.to_vec()),
                sorted(rebuilt.outage_if_opened(branch).customers.to_vec())
            );
            prop_assert_eq!(incremental.outage_if_opened(branch).users, rebuilt.outage_if_opened(branch).users);
        }
    }
}

#[test]
fn opening_a_tie_in_a_loop_loses_nobody_but_opening_the_bridge_below_it_does() {
    // S0 - B0 -L0- B1 -L1- B2 ; B0 -L2- B2 closes a loop; B2 -L3- B3 is a bridge.
    let network = RandomNetwork {
        buses: 4,
        sources: vec![0],
        branches: vec![
            (0, 1, false, false),
            (1, 2, false, false),
            (0, 2, false, false),
            (2, 3, false, false),
        ],
        customers_per_bus: vec![0, 1, 1, 2],
    };
    let grid = build(&network);
    let mut topology = Topology::new(&grid);
    assert_eq!(topology.outage_if_opened(0).customer_count(), 0);
    assert_eq!(topology.outage_if_opened(3).customer_count(), 2);
    let change = topology.apply(Operation::OutOfService(2));
    assert!(change.lost.is_empty() && change.restored.is_empty());
    assert_eq!(topology.outage_if_opened(0).customer_count(), 4);
    let change = topology.apply(Operation::OutOfService(0));
    assert_eq!(change.lost.len(), 4);
    let change = topology.apply(Operation::IntoService(2));
    assert_eq!(change.restored.len(), 4);
}

#[test]
fn a_second_source_on_a_subtree_keeps_it_supplied_when_its_feed_opens() {
    let network = RandomNetwork {
        buses: 3,
        sources: vec![0, 2],
        branches: vec![(0, 1, false, false), (1, 2, false, false)],
        customers_per_bus: vec![1, 1, 1],
    };
    let grid = build(&network);
    let topology = Topology::new(&grid);
    assert_eq!(topology.outage_if_opened(0).customer_count(), 0);
    assert_eq!(topology.outage_if_opened(1).customer_count(), 0);
    assert_eq!(topology.island_count(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn carrying_out_a_restoration_plan_supplies_exactly_whom_it_promises(
        network in network(),
        faulted in 0usize..1000,
    ) {
        let grid = build(&network);
        let topology = Topology::new(&grid);
        let faulted = (faulted % grid.branches.len()) as u32;
        let plan = topology.restoration_plan(faulted);
        let section_has_source = grid.sources.iter().any(|s| plan.section.buses.contains(&s.bus));
        prop_assume!(!section_has_source);

        let mut after = topology.clone();
        for &switch in &plan.isolating_switches {
            after.apply(Operation::Open(switch));
        }
        for closing in &plan.close_switches {
            after.apply(Operation::Close(closing.switch));
        }
        let stay_out = plan.stay_out();
        for (customer, c) in grid.customers.iter().enumerate() {
            let customer = customer as u32;
            if !topology.is_energized(c.bus) || plan.section.buses.contains(&c.bus) {
                continue;
            }
            let promised = stay_out.binary_search(&customer).is_err();
            prop_assert_eq!(after.is_energized(c.bus), promised, "customer {}", c.id);
        }
        for &c in &plan.restored {
            prop_assert!(plan.customers_out.binary_search(&c).is_ok());
        }
    }
}
