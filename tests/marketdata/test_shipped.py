"""Shipped data: checksums verified on load, tampering refused, found in both layouts."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tradeswarm
from tradeswarm.marketdata import DataIntegrityError, load_symbol, manifest, validate_schema
from tradeswarm.marketdata.shipped import data_dir

REPO_DATA = Path(tradeswarm.__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("symbol", ["SPX", "NDX", "GOOG"])
def test_each_shipped_symbol_loads_in_the_schema_with_manifest_rows(symbol):
    frame = load_symbol(symbol)
    validate_schema(frame)
    entry = manifest()[symbol]
    assert len(frame) == entry["rows"]
    assert frame.index[0].tz_convert("America/New_York").strftime("%Y-%m-%d %H:%M") == f"{entry['start']} 00:00"
    assert frame.index[-1].tz_convert("America/New_York").date().isoformat() == entry["end"]
    assert frame.attrs["symbol"] == symbol and frame.attrs["source"] == "shipped"
    assert frame.attrs["sha256"] == entry["sha256"]


def test_unknown_symbol_lists_the_known_ones():
    with pytest.raises(ValueError, match="GOOG, NDX, SPX"):
        load_symbol("AAPL")


def _copy_data(tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(REPO_DATA, target)
    return target


def test_tampered_file_is_refused(tmp_path, monkeypatch):
    target = _copy_data(tmp_path)
    monkeypatch.setenv("TRADESWARM_DATA_DIR", str(target))
    assert len(load_symbol("GOOG")) == 2148  # the untouched copy loads
    raw = bytearray((target / "GOOG.csv.gz").read_bytes())
    raw[-20] ^= 0xFF  # one flipped byte
    (target / "GOOG.csv.gz").write_bytes(bytes(raw))
    with pytest.raises(DataIntegrityError, match="GOOG: checksum mismatch.*refusing"):
        load_symbol("GOOG")


def test_edited_manifest_checksum_is_refused(tmp_path, monkeypatch):
    target = _copy_data(tmp_path)
    doc = json.loads((target / "manifest.json").read_text())
    doc["datasets"]["SPX"]["sha256"] = "0" * 64
    (target / "manifest.json").write_text(json.dumps(doc))
    monkeypatch.setenv("TRADESWARM_DATA_DIR", str(target))
    with pytest.raises(DataIntegrityError, match="SPX: checksum mismatch"):
        load_symbol("SPX")


def test_missing_file_and_manifest_are_clear_errors(tmp_path, monkeypatch):
    target = _copy_data(tmp_path)
    monkeypatch.setenv("TRADESWARM_DATA_DIR", str(target))
    (target / "NDX.csv.gz").unlink()
    with pytest.raises(DataIntegrityError, match="NDX: data file .* is missing"):
        load_symbol("NDX")
    monkeypatch.setenv("TRADESWARM_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataIntegrityError, match="no market-data manifest"):
        load_symbol("SPX")


def test_cached_frames_are_copies():
    a = load_symbol("SPX")
    a["close"] = 0.0
    assert (load_symbol("SPX")["close"] > 0).all()


def test_data_dir_defaults_beside_the_package(monkeypatch):
    monkeypatch.delenv("TRADESWARM_DATA_DIR", raising=False)
    assert data_dir() == REPO_DATA


def test_loads_inside_a_sandbox_template_layout(tmp_path):
    """`<ws>/lib/tradeswarm/` next to `<ws>/data/`, with PYTHONPATH=lib (the trading template)."""
    ws = tmp_path / "ws"
    shutil.copytree(Path(tradeswarm.__file__).parent, ws / "lib" / "tradeswarm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_DATA, ws / "data")
    env = {k: v for k, v in os.environ.items() if k not in ("TRADESWARM_DATA_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = "lib"
    code = ("from tradeswarm.marketdata import load_symbol, data_dir; "
            "print(len(load_symbol('NDX')), data_dir())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ws, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows, where = out.stdout.split()
    assert rows == "5031" and Path(where) == (ws / "data").resolve()
