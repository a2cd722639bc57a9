"""tools/gather_photos.py on a tiny .deb (built with dpkg-deb -b) and wheel built
here, offline; the photo dataset's hold-out by folder; and tools/photo_subset.py's
folder drawn from the collection's training side."""

import hashlib
import importlib.util
import io
import json
import pathlib
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
from PIL import Image

from configs import photos_v1
from ncl_jax.synthesis import SynthesisConfig
from ncl_jax.synthesis.dataset import PhotoForgeries
from tests.conftest import REPO_ROOT
from tools import photo_subset

spec = importlib.util.spec_from_file_location(
  "gather_photos", f"{REPO_ROOT}/tools/gather_photos.py"
)
gather_photos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gather_photos)


def encoded(array, fmt, **kwargs) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, fmt, **kwargs)
  return buffer.getvalue()


def noise(rng, height, width, channels=3):
  return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def build_deb(tmp_path, files: dict) -> None:
  root = tmp_path / "debroot"
  (root / "DEBIAN").mkdir(parents=True)
  (root / "DEBIAN/control").write_text(
    "Package: tiny-photos\nVersion: 1:2.0-1\nArchitecture: all\n"
    "Maintainer: Test <t@example.org>\nDescription: photos for a test\n"
  )
  for path, data in files.items():
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(data)
  packages = tmp_path / "packages"
  packages.mkdir(exist_ok=True)
  subprocess.run(
    [
      "dpkg-deb",
      "--root-owner-group",
      "-b",
      str(root),
      str(packages / "tiny-photos_1%3a2.0-1_all.deb"),
    ],
    check=True,
    capture_output=True,
  )


def build_wheel(tmp_path, files: dict) -> None:
  metadata = "Metadata-Version: 2.4\nName: tiny-pics\nVersion: 0.3\nLicense-Expression: MIT\n"
  with zipfile.ZipFile(tmp_path / "packages/tiny_pics-0.3-py3-none-any.whl", "w") as wheel:
    wheel.writestr("tiny_pics-0.3.dist-info/METADATA", metadata)
    for path, data in files.items():
      wheel.writestr(path, data)


@pytest.fixture(name="packages")
def fixture_packages(tmp_path):
  if not shutil.which("dpkg-deb"):
    pytest.fail("dpkg-deb is needed (Debian's dpkg)")
  rng = np.random.default_rng(0)
  photo = encoded(noise(rng, 480, 700), "JPEG", quality=90)
  cutout = noise(rng, 80, 80, 4)
  cutout[..., 3] = 255
  cutout[:10, :, 3] = 0
  drawing = np.zeros((80, 80, 4), np.uint8)
  drawing[10:70, 10:70] = (200, 30, 30, 255)
  deb = {
    "usr/share/doc/tiny-photos/copyright": b"Files: *\nLicense: CC0-1.0\n",
    "usr/share/pics/lake.jpg": photo,
    "usr/share/pics/lake.desktop": b"[Desktop Entry]\nX-KDE-PluginInfo-Author=Ann Lee\n"
    b"X-KDE-PluginInfo-License=CC0\n",
    "usr/share/pics/lake_copy.jpg": photo,
    "usr/share/pics/small.jpg": encoded(noise(rng, 200, 300), "JPEG"),
    "usr/share/pics/gray.png": encoded(noise(rng, 700, 700, 1)[..., 0], "PNG"),
    "usr/share/pics/broken.jpg": photo[:200],
    "usr/share/stamps/animals/cat.png": encoded(cutout, "PNG"),
    "usr/share/stamps/wild/animals/cat.png": encoded(np.roll(cutout, 7, axis=0), "PNG"),
    "usr/share/stamps/shapes/square.png": encoded(drawing, "PNG"),
  }
  build_deb(tmp_path, deb)
  wheel = {"tiny_pics/data/field.png": encoded(noise(rng, 640, 500), "PNG")}
  build_wheel(tmp_path, wheel)
  manifest = {
    "packages": [
      {
        "name": "tiny-photos",
        "kind": "deb",
        "version": "1:2.0-1",
        "photos": {
          "usr/share/pics/lake.jpg": "lake",
          "usr/share/pics/lake_copy.jpg": "lake",
          "usr/share/pics/small.jpg": "small",
          "usr/share/pics/gray.png": "gray",
          "usr/share/pics/broken.jpg": "broken",
          "usr/share/pics/missing.jpg": "missing",
        },
        "cutouts": "usr/share/stamps/**/*.png",
      },
      {
        "name": "tiny-pics",
        "kind": "wheel",
        "version": "0.3",
        "photos": {"tiny_pics/data/field.png": "field"},
      },
    ]
  }
  return tmp_path, manifest, {**deb, **wheel}


def test_gather_checks_logs_and_copies_each_file(packages):
  tmp_path, manifest, files = packages
  lines = []
  collection = gather_photos.gather(
    manifest,
    tmp_path / "out",
    tmp_path / "packages",
    download=False,
    test_fraction=0.0,
    log=lines.append,
  )
  kept = {e["path_in_package"]: e for e in collection["files"]}
  assert sorted(kept) == [
    "tiny_pics/data/field.png",
    "usr/share/pics/lake.jpg",
    "usr/share/stamps/wild/animals/cat.png",  # the later of two cat.png of one source
  ]
  for path, entry in kept.items():
    copied = (tmp_path / "out" / entry["file"]).read_bytes()
    assert copied == files[path]  # byte for byte
    assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest()
  assert kept["usr/share/pics/lake.jpg"]["file"] == "training/tiny-photos/lake/lake.jpg"
  assert kept["usr/share/stamps/wild/animals/cat.png"]["source"] == "tiny-photos/animals"
  assert kept["usr/share/pics/lake.jpg"]["licence"] == "CC0-1.0"
  assert kept["usr/share/pics/lake.jpg"]["attribution"] == "Ann Lee (CC0)"
  assert kept["usr/share/pics/lake.jpg"]["version"] == "1:2.0-1"
  assert kept["tiny_pics/data/field.png"]["licence"] == "MIT"
  reasons = {r["path"]: r["reason"] for r in collection["rejections"]}
  assert reasons["usr/share/pics/lake_copy.jpg"].startswith("the same file as tiny-photos:")
  assert reasons["usr/share/pics/small.jpg"] == "long side 300 px < 640"
  assert reasons["usr/share/pics/gray.png"] == "not in colour"
  assert reasons["usr/share/pics/broken.jpg"].startswith("does not decode")
  assert reasons["usr/share/pics/missing.jpg"] == "not in the package"
  assert reasons["usr/share/stamps/shapes/square.png"].startswith("a drawing")
  assert reasons["usr/share/stamps/animals/cat.png"] == (
    "its name is taken by tiny-photos:usr/share/stamps/wild/animals/cat.png"
  )
  assert any("rejected tiny-photos:usr/share/pics/small.jpg" in line for line in lines)
  on_disk = json.loads((tmp_path / "out/collection.json").read_text())
  assert on_disk["files"] == collection["files"]


def test_gather_holds_out_whole_sources_and_refuses_other_versions(packages):
  tmp_path, manifest, _ = packages
  collection = gather_photos.gather(
    manifest,
    tmp_path / "out",
    tmp_path / "packages",
    download=False,
    test_fraction=1.0,
    log=lambda line: None,
  )
  assert {e["split"] for e in collection["files"]} == {"test"}
  assert (tmp_path / "out/test/photos/tiny-photos/lake/lake.jpg").is_file()
  assert (tmp_path / "out/test/cutouts/tiny-photos/animals/cat.png").is_file()
  manifest["packages"][1]["version"] = "0.4"
  with pytest.raises(FileNotFoundError, match="no wheel of tiny-pics 0.4"):
    gather_photos.gather(manifest, tmp_path / "o2", tmp_path / "packages", download=False)


def test_photos_of_one_folder_stay_on_one_side(tmp_path):
  from ncl_jax import data  # noqa: F401  (imports the dataset modules in order)
  from ncl_jax.synthesis.dataset import split_photos
  from ncl_jax.synthesis.photos import FolderPhotos

  rng = np.random.default_rng(1)
  for source in range(12):
    for size in range(3):
      path = tmp_path / f"source{source}" / f"{size}.png"
      path.parent.mkdir(exist_ok=True)
      Image.fromarray(noise(rng, 8, 8)).save(path)
  photos = FolderPhotos(tmp_path)
  for seed in range(3):
    train, held = split_photos(photos, 0.3, seed, "folder")
    folders = lambda indices: {photos.name(i).split("/")[0] for i in indices}  # noqa: E731
    assert folders(train).isdisjoint(folders(held)) and held
    assert len(held) == 3 * len(folders(held))
  by_file = split_photos(photos, 0.3, 0, "file")[1]
  assert len(by_file) != 3 * len(folders(by_file))  # by file, a picture's sizes scatter
  with pytest.raises(ValueError, match="hold_out_by='source'"):
    split_photos(photos, 0.3, 0, "source")


def test_training_only_photos_are_trained_on_and_leave_validation_as_it_was(tmp_path):
  """`dataset.options.training_only_dirs`: photos added to training only; the
  held-out photos' forgeries stay byte for byte."""
  from ncl_jax import data

  rng = np.random.default_rng(2)
  for folder, names in (("collection", "abcdefgh"), ("extra", "xyz")):
    for name in names:
      (tmp_path / folder / name).mkdir(parents=True)
      image = rng.integers(0, 256, (70, 90, 3), np.uint8)
      Image.fromarray(image).save(tmp_path / folder / name / "p.png")
  base = {
    "name": "photo_forgeries",
    "manual_dir": str(tmp_path / "collection"),
    "synthesis": {"camera_long_side": (64, 96)},
  }
  options = {"num_validation": 6, "hold_out_by": "folder", "validation_fraction": 0.3}
  plain = data.get_builder({**base, "options": options})
  extra = {**options, "training_only_dirs": (str(tmp_path / "extra"),)}
  added = data.get_builder({**base, "options": extra})
  assert added.validation_photos == plain.validation_photos
  new = set(added.train_photos) - set(plain.train_photos)
  assert sorted(added.source.name(i) for i in new) == [
    "extra/x/p.png",
    "extra/y/p.png",
    "extra/z/p.png",
  ]
  for index in range(6):
    expected = plain.as_data_source("validation")[index]["image"]
    assert added.as_data_source("validation")[index]["image"] == expected
  train = added.as_data_source("train")
  hosts = {train.forgery(index).photo for index in range(60)}
  assert any(name.startswith("extra/") for name in hosts)
  assert "and " + str(tmp_path / "extra") in added.describe()


QT_RESOURCES = pathlib.Path(REPO_ROOT) / "tests/golden/qt_resources"
QT_PREFIX = "gcompris/src/activities/tiny/"


def test_qt_resource_archives_give_back_each_file_qt_packed():
  """tests/golden/qt_resources: tiny.qrc's files packed by Qt 5.15's rcc
  (`rcc --binary --format-version N tiny.qrc`), some compressed, some stored."""
  files = sorted(p for p in QT_RESOURCES.joinpath("res").rglob("*") if p.is_file())
  for version in (1, 3):
    members = gather_photos.qt_resources((QT_RESOURCES / f"tiny_v{version}.rcc").read_bytes())
    assert sorted(members) == sorted(QT_PREFIX + str(p.relative_to(QT_RESOURCES)) for p in files)
    for path in files:
      assert members[QT_PREFIX + str(path.relative_to(QT_RESOURCES))] == path.read_bytes()
  with pytest.raises(ValueError, match="not a Qt resource archive"):
    gather_photos.qt_resources(b"PK\x03\x04" + bytes(40))


def test_photos_inside_an_archive_gather_into_training_only(tmp_path):
  archive = "usr/share/tiny/tiny.rcc"
  build_deb(tmp_path, {archive: (QT_RESOURCES / "tiny_v3.rcc").read_bytes()})
  member = f"{archive}::{QT_PREFIX}res/animals"
  spec = {
    "name": "tiny-photos",
    "kind": "deb",
    "version": "1:2.0-1",
    "training_only": True,
    "attributions": {f"{member}/strip.png": "Ann Lee (CC0-1.0)"},
    "photos": {
      f"{member}/strip.png": "strip",
      f"{member}/noise.png": "noise",
      f"{member}/gone.png": "gone",
    },
  }
  collection = gather_photos.gather(
    {"packages": [spec]},
    tmp_path / "out",
    tmp_path / "packages",
    download=False,
    test_fraction=1.0,
    log=lambda line: None,
  )
  (kept,) = collection["files"]
  assert kept["file"] == "training_only/tiny-photos/strip/strip.png"
  assert kept["split"] == "training_only"
  assert kept["attribution"] == "Ann Lee (CC0-1.0)"  # the manifest's, where none is in the package
  written = (tmp_path / "out" / kept["file"]).read_bytes()
  assert written == (QT_RESOURCES / "res/animals/strip.png").read_bytes()
  reasons = [r["reason"] for r in collection["rejections"]]
  assert reasons == ["long side 16 px < 640", "not in the package"]


GCOMPRIS_README = b"""Copyright: Ann Lee, 2018
License: CC-BY-SA 4.0
Files:
key.svg
egypt/egypt.svg

Copyright: Bo Chen
License: CC0-1.0
Source: https://commons.wikimedia.org/wiki/File:Pyramid.jpg
Files:
egypt/pyramid.webp

Copyright: Cy Dee
Source: https://example.org/alpaca
License: CC-BY-SA-4.0
Comments: cropping, sharpening
Files: alpaca.webp
"""


def test_an_archive_members_credit_comes_from_the_nearest_readme_naming_it():
  """READMEs laid out as GCompris 3.1's resource folders have them."""
  members = {"a/resource/README": GCOMPRIS_README}
  credit = gather_photos.archive_attribution
  assert credit(members, "a/resource/egypt/pyramid.webp") == (
    "Bo Chen (CC0-1.0), https://commons.wikimedia.org/wiki/File:Pyramid.jpg"
  )
  assert (
    credit(members, "a/resource/alpaca.webp") == "Cy Dee (CC-BY-SA-4.0), https://example.org/alpaca"
  )
  assert credit(members, "a/resource/egypt/egypt.svg") == "Ann Lee, 2018 (CC-BY-SA 4.0)"
  assert credit(members, "a/resource/egypt/sphinx.webp") == ""
  members["a/resource/egypt/README"] = b"Copyright: Di\nLicense: CC0-1.0\nFiles: pyramid.webp\n"
  assert credit(members, "a/resource/egypt/pyramid.webp") == "Di (CC0-1.0)"


def test_photo_subset_draws_whole_training_sources_and_links_them(tmp_path):
  """tools/photo_subset.py: only files configs/photos_v1.py trains on (its split of
  the folder is the reference), whole sources, and links to the very files."""
  collection, rng = tmp_path / "training", np.random.default_rng(0)
  for source in range(10):
    for shot in range(1 + source % 2):
      (collection / f"pkg/s{source}").mkdir(parents=True, exist_ok=True)
      Image.fromarray(noise(rng, 24, 32)).save(collection / f"pkg/s{source}/{shot}.jpg")
  for cutout in range(6):
    rgba = noise(rng, 24, 24, 4)
    rgba[:, :12, 3] = 0
    (collection / f"stamps/c{cutout % 2}").mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba).save(collection / f"stamps/c{cutout % 2}/{cutout}.png")
  photos, cutouts, root = photo_subset.training_side(str(collection))
  dataset = photos_v1.get_config().dataset
  dataset.manual_dir = str(collection)
  split = PhotoForgeries(dataset, SynthesisConfig())
  held = {split.source.name(i) for i in split.validation_photos}
  every = {str(path.relative_to(collection)) for path in collection.rglob("*.*")}
  assert held and not held & {*photos, *cutouts} and {*photos, *cutouts} | held == every
  assert all(name.startswith("stamps/") for name in cutouts)

  taken, drawn = photo_subset.draw(photos, cutouts, 3, 2, seed=0)
  sources = {pathlib.PurePosixPath(name).parent for name in taken}
  assert taken == sorted(n for n in photos if pathlib.PurePosixPath(n).parent in sources)
  assert 3 <= len(taken) <= 4 and len(drawn) == 2 and set(drawn) <= set(cutouts)
  assert photo_subset.draw(photos, cutouts, 3, 2, seed=0) == (taken, drawn)
  subset = tmp_path / "subset"
  photo_subset.link(taken + drawn, root, subset)
  linked = sorted(str(path.relative_to(subset)) for path in subset.rglob("*.*"))
  assert linked == sorted(taken + drawn)
  for name in linked:
    assert (subset / name).read_bytes() == (collection / name).read_bytes()
