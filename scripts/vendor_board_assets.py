"""Copy the board's browser assets into ``static/vendor/`` from npm tarballs.

Run once by a maintainer when a pinned version changes (nothing is fetched at run time)::

    npm pack echarts@5.6.0 echarts@4.9.0 htmx.org@2.0.4   # in an empty folder
    python scripts/vendor_board_assets.py THAT_FOLDER

The China provinces map is ``map/json/china.json`` of the ``echarts@4.9.0`` package (Apache
License 2.0, the last release that shipped map data). It is decoded here from ECharts'
compact "UTF8Encoding" form to plain GeoJSON, coordinates rounded to 4 decimals, and each
feature's ``name`` set to the province's full official name (``上海`` -> ``上海市``), the
wording orders carry in ``Order.province``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"

ECHARTS = "echarts-5.6.0.tgz"
ECHARTS_MAP = "echarts-4.9.0.tgz"
HTMX = "htmx.org-2.0.4.tgz"

FULL_NAMES = {
    "北京": "北京市", "天津": "天津市", "上海": "上海市", "重庆": "重庆市",
    "内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区", "新疆": "新疆维吾尔自治区",
    "香港": "香港特别行政区", "澳门": "澳门特别行政区",
}  # fmt: skip


def full_name(short: str) -> str:
    return FULL_NAMES.get(short, short + "省")


def decode_ring(encoded: str, offsets: list[int], scale: float) -> list[list[float]]:
    """ECharts' zigzag + delta encoding of one ring, as its ``parseGeoJson.decodePolygon``."""
    ring: list[list[float]] = []
    prev_x, prev_y = offsets[0], offsets[1]
    for i in range(0, len(encoded), 2):
        x = ord(encoded[i]) - 64
        y = ord(encoded[i + 1]) - 64
        x = (x >> 1) ^ (-(x & 1))
        y = (y >> 1) ^ (-(y & 1))
        x += prev_x
        y += prev_y
        prev_x, prev_y = x, y
        ring.append([round(x / scale, 4), round(y / scale, 4)])
    return ring


def decode_china(raw: dict[str, Any]) -> dict[str, Any]:
    scale = float(raw.get("UTF8Scale") or 1024)
    features = []
    for feature in raw["features"]:
        geometry = feature["geometry"]
        offsets = geometry["encodeOffsets"]
        if geometry["type"] == "Polygon":
            coordinates: list[Any] = [
                decode_ring(ring, offsets[i], scale)
                for i, ring in enumerate(geometry["coordinates"])
            ]
        else:
            coordinates = [
                [decode_ring(ring, offsets[p][i], scale) for i, ring in enumerate(polygon)]
                for p, polygon in enumerate(geometry["coordinates"])
            ]
        props = feature["properties"]
        features.append(
            {
                "type": "Feature",
                "id": props["id"],
                "properties": {"name": full_name(props["name"]), "adcode": props["id"]},
                "geometry": {"type": geometry["type"], "coordinates": coordinates},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def member(archive: tarfile.TarFile, name: str) -> bytes:
    handle = archive.extractfile("package/" + name)
    if handle is None:
        raise SystemExit(f"{name} missing from the tarball")
    return handle.read()


def main(folder: Path) -> None:
    echarts_dir = VENDOR / "echarts"
    htmx_dir = VENDOR / "htmx"
    for target in (echarts_dir, htmx_dir):
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
    with tarfile.open(folder / ECHARTS) as archive:
        for name in ("dist/echarts.min.js", "LICENSE", "NOTICE"):
            (echarts_dir / Path(name).name).write_bytes(member(archive, name))
    with tarfile.open(folder / ECHARTS_MAP) as archive:
        china = decode_china(json.loads(member(archive, "map/json/china.json")))
    text = json.dumps(china, ensure_ascii=False, separators=(",", ":"))
    (echarts_dir / "china-provinces.geojson").write_text(text, encoding="utf-8")
    with tarfile.open(folder / HTMX) as archive:
        (htmx_dir / "htmx.min.js").write_bytes(member(archive, "dist/htmx.min.js"))
        (htmx_dir / "LICENSE").write_bytes(member(archive, "LICENSE"))
    print(f"vendored into {VENDOR.relative_to(ROOT)}: {len(china['features'])} provinces")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
