//! WGS84 <-> GCJ-02 conversion. Chinese map apps (AMap, Tencent) and WeChat location
//! messages give GCJ-02 ("Mars") coordinates, offset from WGS84 by a few hundred metres;
//! the grid package is WGS84, so locations from customers are converted on the way in.
//!
//! The forward transform is the published one (Krasovsky 1940 ellipsoid, as in
//! googollee/eviltransform and wandergis/coordtransform); outside China's bounding box there
//! is no offset. The inverse has no closed form and is found by fixed-point iteration.

/// Semi-major axis of the Krasovsky 1940 ellipsoid, metres.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid.
#[expect(
    clippy::excessive_precision,
    reason = "written as published, so it can be compared with the reference implementations"
)]
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943_23;
/// The inverse stops when the forward image is this close (degrees) to the target.
const INVERSE_TOLERANCE_DEG: f64 = 1e-10;
const INVERSE_MAX_ITERATIONS: u32 = 30;

/// True where GCJ-02 applies no offset: outside the rough bounding box of China used by
/// the published implementations.
pub fn out_of_china(lonlat: [f64; 2]) -> bool {
    let [lon, lat] = lonlat;
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn offset_lat(x: f64, y: f64) -> f64 {
    let mut d = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    d += (20.0 * (6.0 * x * std::f64::consts::PI).sin()
        + 20.0 * (2.0 * x * std::f64::consts::PI).sin())
        * 2.0
        / 3.0;
    d += (20.0 * (y * std::f64::consts::PI).sin() + 40.0 * (y / 3.0 * std::f64::consts::PI).sin())
        * 2.0
        / 3.0;
    d += (160.0 * (y / 12.0 * std::f64::consts::PI).sin()
        + 320.0 * (y * std::f64::consts::PI / 30.0).sin())
        * 2.0
        / 3.0;
    d
}

fn offset_lon(x: f64, y: f64) -> f64 {
    let mut d = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    d += (20.0 * (6.0 * x * std::f64::consts::PI).sin()
        + 20.0 * (2.0 * x * std::f64::consts::PI).sin())
        * 2.0
        / 3.0;
    d += (20.0 * (x * std::f64::consts::PI).sin() + 40.0 * (x / 3.0 * std::f64::consts::PI).sin())
        * 2.0
        / 3.0;
    d += (150.0 * (x / 12.0 * std::f64::consts::PI).sin()
        + 300.0 * (x / 30.0 * std::f64::consts::PI).sin())
        * 2.0
        / 3.0;
    d
}

/// The GCJ-02 offset (degrees of lon, lat) at a WGS84 point inside China.
fn delta(lonlat: [f64; 2]) -> [f64; 2] {
    let [lon, lat] = lonlat;
    let d_lat = offset_lat(lon - 105.0, lat - 35.0);
    let d_lon = offset_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat.to_radians();
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    [
        (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * std::f64::consts::PI),
        (d_lat * 180.0)
            / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * std::f64::consts::PI),
    ]
}

/// WGS84 lon/lat to GCJ-02 lon/lat (unchanged outside China).
pub fn wgs84_to_gcj02(lonlat: [f64; 2]) -> [f64; 2] {
    if out_of_china(lonlat) {
        return lonlat;
    }
    let [d_lon, d_lat] = delta(lonlat);
    [lonlat[0] + d_lon, lonlat[1] + d_lat]
}

/// GCJ-02 lon/lat to WGS84 lon/lat (unchanged outside China), exact to about 1e-10 degree
/// (~0.01 mm): the WGS84 point whose forward transform is the given point.
pub fn gcj02_to_wgs84(lonlat: [f64; 2]) -> [f64; 2] {
    if out_of_china(lonlat) {
        return lonlat;
    }
    // The offset barely changes across its own size (a few hundred metres), so the
    // fixed-point step w <- w - (f(w) - g) gains several digits per iteration.
    let mut wgs = lonlat;
    for _ in 0..INVERSE_MAX_ITERATIONS {
        let forward = wgs84_to_gcj02(wgs);
        let error = [forward[0] - lonlat[0], forward[1] - lonlat[1]];
        if error[0].abs() < INVERSE_TOLERANCE_DEG && error[1].abs() < INVERSE_TOLERANCE_DEG {
            break;
        }
        wgs = [wgs[0] - error[0], wgs[1] - error[1]];
    }
    wgs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_close(got: [f64; 2], want: [f64; 2], tolerance: f64) {
        assert!(
            (got[0] - want[0]).abs() <= tolerance && (got[1] - want[1]).abs() <= tolerance,
            "got {got:?}, want {want:?} (tolerance {tolerance})"
        );
    }

    #[test]
    fn forward_matches_the_published_eviltransform_cases() {
        // googollee/eviltransform go/transform_test.go: {wgsLat, wgsLng, gcjLat, gcjLng}.
        let cases = [
            (
                [121.5272106, 31.1774276],
                [121.531541859215, 31.17530398364597],
            ), // Shanghai
            (
                [113.912316, 22.543847],
                [113.9171764808363, 22.540796131694766],
            ), // Shenzhen
            (
                [116.377817, 39.911954],
                [116.38404722455657, 39.91334545536069],
            ), // Beijing
        ];
        for (wgs, gcj) in cases {
            assert_close(wgs84_to_gcj02(wgs), gcj, 1e-9);
        }
    }

    #[test]
    fn forward_matches_the_published_coordtransform_and_gcoord_cases() {
        // wandergis/coordtransform README.md: wgs84togcj02(116.404, 39.915).
        assert_close(
            wgs84_to_gcj02([116.404, 39.915]),
            [116.41024449916938, 39.91640428150164],
            1e-9,
        );
        // hujiulong/gcoord test/unit/crs/WGS84.spec.ts: WGS84 -> GCJ02 of [123, 45],
        // checked there to 5 decimals.
        assert_close(
            wgs84_to_gcj02([123.0, 45.0]),
            [123.00607541, 45.00197815],
            5e-6,
        );
    }

    #[test]
    fn inverse_matches_the_published_cases_far_inside_their_tolerance() {
        // eviltransform's GCJtoWGSExact must land within 0.5 m (~5e-6 degree) of the WGS
        // point; ours lands within 1e-9 degree.
        let cases = [
            (
                [121.531541859215, 31.17530398364597],
                [121.5272106, 31.1774276],
            ),
            (
                [113.9171764808363, 22.540796131694766],
                [113.912316, 22.543847],
            ),
            (
                [116.38404722455657, 39.91334545536069],
                [116.377817, 39.911954],
            ),
        ];
        for (gcj, wgs) in cases {
            assert_close(gcj02_to_wgs84(gcj), wgs, 1e-9);
        }
        // hujiulong/gcoord test/unit/crs/GCJ02.spec.js: GCJ02 -> WGS84 of [123, 45].
        assert_close(
            gcj02_to_wgs84([123.0, 45.0]),
            [122.99395597, 44.99804071],
            5e-6,
        );
    }

    #[test]
    fn outside_china_nothing_moves() {
        let berlin = [13.405, 52.52];
        assert!(out_of_china(berlin));
        assert_eq!(wgs84_to_gcj02(berlin), berlin);
        assert_eq!(gcj02_to_wgs84(berlin), berlin);
        // gcoord's own "not in China" case.
        assert_eq!(wgs84_to_gcj02([183.0, 45.0]), [183.0, 45.0]);
    }

    #[test]
    fn the_offset_in_dongying_is_a_few_hundred_metres() {
        let wgs = [118.6, 37.45];
        assert!(!out_of_china(wgs));
        let gcj = wgs84_to_gcj02(wgs);
        let dx = (gcj[0] - wgs[0]) * 111_320.0 * wgs[1].to_radians().cos();
        let dy = (gcj[1] - wgs[1]) * 111_320.0;
        let metres = dx.hypot(dy);
        assert!((100.0..1_000.0).contains(&metres), "{metres} m");
    }

    proptest! {
        #[test]
        fn round_trips_are_exact_to_1e_9_degree(lon in 73.0..135.0f64, lat in 18.0..53.5f64) {
            let wgs = [lon, lat];
            let back = gcj02_to_wgs84(wgs84_to_gcj02(wgs));
            prop_assert!((back[0] - lon).abs() < 1e-9 && (back[1] - lat).abs() < 1e-9, "{:?} -> {:?}", wgs, back);
            let gcj = [lon, lat];
            let again = wgs84_to_gcj02(gcj02_to_wgs84(gcj));
            prop_assert!((again[0] - lon).abs() < 1e-9 && (again[1] - lat).abs() < 1e-9, "{:?} -> {:?}", gcj, again);
        }
    }
}
