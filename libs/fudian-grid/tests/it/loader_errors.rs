//! A package that breaks the rules is refused with every problem listed, each naming the
//! feature or CSV line.

use std::path::Path;

use fudian_grid::{GridError, Location, load_package};

const NETWORK: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"B1","kind":"bus","voltage_kv":10},"geometry":{"type":"Point","coordinates":[118.5,37.4]}},
{"type":"Feature","properties":{"id":"B2","kind":"bus","voltage_kv":"ten","extra":{"kept":true}},"geometry":{"type":"Point","coordinates":[118.6,37.4]}},
{"type":"Feature","properties":{"id":"B1","kind":"bus","voltage_kv":10},"geometry":{"type":"Point","coordinates":[118.5,37.4]}},
{"type":"Feature","properties":{"id":"SRC","kind":"source","bus":"B1"},"geometry":{"type":"Point","coordinates":[118.5,37.4]}},
{"type":"Feature","properties":{"id":"L1","kind":"line","from_bus":"B1","to_bus":"B9"},"geometry":{"type":"Point","coordinates":[118.5,37.4]}},
{"type":"Feature","properties":{"id":"S1","kind":"switch","from_bus":"B1","to_bus":"B2","device":"teleporter"},"geometry":{"type":"Point","coordinates":[118.5,37.4]}},
{"type":"Feature","properties":{"id":"X1","kind":"capacitor"},"geometry":{"type":"Point","coordinates":[118.5,37.4]}},
{"type":"Feature","properties":{"kind":"bus","voltage_kv":10},"geometry":{"type":"Point","coordinates":[118.5,37.4]}},
{"type":"Feature","properties":{"id":"T1","kind":"transformer","from_bus":"B1","to_bus":"B2","rated_kva":-5},"geometry":{"type":"Point","coordinates":[118.5,37.4]}}
]}"#;

const CUSTOMERS: &str = "id,bus,lon,lat,area_class,phone,extra_column
C1,B1,118.5,37.4,urban,+8613800000000,ignored
C1,B1,118.5,37.4,urban,,
C2,B7,118.5,37.4,suburb,,
C3,B2,east,37.4,rural,12345,
";

const CELLS: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"G1","area_class":"urban"},"geometry":{"type":"Polygon","coordinates":[[[118.4,37.3],[118.7,37.3],[118.7,37.5],[118.4,37.3]]]}}
]}"#;

const CREWS: &str = "id,home_cell,lon,lat,size,skills,shift
K1,G1,118.5,37.4,3,line;cable,08:00-20:00
K2,G9,118.5,37.4,3,line,20:00-08:00
K3,G1,118.5,37.4,0,line,8-20
";

fn write_package(dir: &Path) {
    std::fs::write(dir.join("network.geojson"), NETWORK).unwrap();
    std::fs::write(dir.join("customers.csv"), CUSTOMERS).unwrap();
    std::fs::write(dir.join("cells.geojson"), CELLS).unwrap();
    std::fs::write(dir.join("crews.csv"), CREWS).unwrap();
}

#[test]
fn a_bad_package_is_refused_with_every_problem_located() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path());
    let Err(GridError::Invalid { problems, .. }) = load_package(dir.path()) else {
        panic!("the package must be refused");
    };
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let expect = [
        "network.geojson feature #1 (B2): voltage_kv must be a non-negative number",
        "network.geojson feature #2 (B1): duplicate id",
        "network.geojson feature #4 (L1): to_bus refers to missing bus B9",
        "network.geojson feature #4 (L1): geometry must be a LineString, found Point",
        "network.geojson feature #5 (S1): unknown device \"teleporter\"",
        "network.geojson feature #6 (X1): unknown kind \"capacitor\"",
        "network.geojson feature #7: missing properties.id",
        "network.geojson feature #8 (T1): rated_kva must be a non-negative number",
        "customers.csv line 3: duplicate customer id C1",
        "customers.csv line 4: bus refers to missing bus B7",
        "customers.csv line 4: area_class must be core, urban, town or rural",
        "customers.csv line 5: lon/lat must be WGS84 degrees",
        "customers.csv line 5: phone must be E.164",
        "crews.csv line 3: home_cell refers to unknown cell G9",
        "crews.csv line 4: size must be a positive whole number",
        "crews.csv line 4: shift must be HH:MM-HH:MM",
    ];
    for wanted in expect {
        assert!(
            text.iter().any(|t| t.starts_with(wanted)),
            "missing problem {wanted:?} in {text:#?}"
        );
    }
    assert_eq!(
        problems.len(),
        expect.len(),
        "unexpected problems: {text:#?}"
    );
    assert!(problems.iter().all(|p| p.location != Location::File));
}

#[test]
fn a_missing_network_file_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let error = load_package(dir.path()).unwrap_err();
    assert!(matches!(error, GridError::Io { .. }));
    assert!(error.to_string().contains("network.geojson"));
}

#[test]
fn a_missing_required_column_is_reported_once_at_the_header() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path());
    std::fs::write(
        dir.path().join("customers.csv"),
        "id,bus,lon,lat\nC1,B1,118.5,37.4\n",
    )
    .unwrap();
    let Err(GridError::Invalid { problems, .. }) = load_package(dir.path()) else {
        panic!("the package must be refused");
    };
    let header: Vec<_> = problems
        .iter()
        .filter(|p| p.file == "customers.csv")
        .collect();
    assert_eq!(header.len(), 1);
    assert_eq!(header[0].location, Location::Line(1));
    assert!(header[0].message.contains("area_class"));
}
