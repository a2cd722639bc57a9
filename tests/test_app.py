"""The page in a real browser (Debian's headless Chromium, driven by Playwright):
upload a photo, see its heat map and score, download its mask; a corrupt file
and bad uploads get a message and the server keeps serving; every request the
page makes goes to 127.0.0.1."""

import concurrent.futures
import io
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from tests.conftest import REPO_ROOT
from tests.test_old_checkpoint import CHECKPOINT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# CI sets it (.ci/run installs Chromium), so that there the browser test cannot be skipped.
REQUIRE_BROWSER = os.environ.get("NCL_REQUIRE_BROWSER", "") == "1"
# The docs' picture (docs/images/app.png): this test with NCL_APP_SCREENSHOT=<png>
# serves the shipped model and drops a bundled photo with a pasted patch on the page.
SCREENSHOT = os.environ.get("NCL_APP_SCREENSHOT", "")
MODEL_FLAGS = [] if SCREENSHOT else [f"--checkpoint={CHECKPOINT}"]  # []: the newest shipped


@pytest.fixture(name="server_tmp", scope="module")
def fixture_server_tmp(tmp_path_factory):
  return tmp_path_factory.mktemp("server_tmp")


@pytest.fixture(name="server", scope="module")
def fixture_server(server_tmp):
  process = subprocess.Popen(
    [sys.executable, "-m", "ncl_jax.app", *MODEL_FLAGS, "--port=0"],
    cwd=REPO_ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    env=dict(os.environ, TMPDIR=str(server_tmp)),
  )
  lines = []
  for line in process.stdout:
    lines.append(line)
    found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
    if found:
      break
  else:
    pytest.fail("the app did not start:\n" + "".join(lines))
  yield found.group(1)
  process.terminate()
  process.wait(timeout=30)


def post(url, body: bytes, name="x.png"):
  request = urllib.request.Request(f"{url}api/predict?name={name}", data=body, method="POST")
  try:
    with urllib.request.urlopen(request, timeout=120) as response:
      return response.status, json.loads(response.read())
  except urllib.error.HTTPError as error:
    return error.code, json.loads(error.read())


def png(array) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, "PNG")
  return buffer.getvalue()


def test_bad_uploads_get_messages_and_the_server_keeps_serving(server, server_tmp):
  bomb = Image.new("1", (10_000, 10_000))  # 100 megapixels, a few kB as PNG
  buffer = io.BytesIO()
  bomb.save(buffer, "PNG")
  cases = {
    "empty": (b"", 400, "the upload is empty"),
    "text": (b"hello, not an image", 400, "is not an image this page reads"),
    "tiny": (png(np.zeros((1, 1, 3), np.uint8)), 400, "is 1x1 pixels"),
    "bomb": (buffer.getvalue(), 413, "over the limit of 40,000,000 pixels"),
    "truncated": (png(np.full((64, 64, 3), 90, np.uint8))[:120], 422, "could not be read"),
  }
  for name, (body, status, message) in cases.items():
    code, answer = post(server, body, name)
    assert code == status and message in answer["error"], (name, code, answer)
  good = png(np.full((40, 50, 3), 120, np.uint8))
  with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two uploads at once
    answers = list(pool.map(lambda name: post(server, good, name), ["good.png", "other.png"]))
  assert [code for code, _ in answers] == [200, 200], answers
  assert answers[0][1]["record"]["outputs"]["mask"] == "good_mask.png"
  assert answers[1][1]["record"]["file"] == "other.png"
  assert not list(server_tmp.glob("ncl_jax_app_*"))  # every upload's folder is removed


def require_chromium():
  """Skip where the system has no Chromium (Playwright cannot download one), unless
  NCL_REQUIRE_BROWSER=1 or a screenshot is asked for, where a missing browser fails."""
  if os.path.exists(CHROMIUM):
    return
  reason = f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium)"
  if REQUIRE_BROWSER or SCREENSHOT:
    pytest.fail(f"the browser test must run here, and {reason}")
  pytest.skip(reason)


def test_page_in_a_real_browser(server, tmp_path):
  require_chromium()
  rng = np.random.default_rng(0)
  photo = tmp_path / "photo.jpg"
  picture = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
  if SCREENSHOT:
    import skimage.data

    picture = skimage.data.astronaut().copy()
    picture[300:420, 330:470] = skimage.data.coffee()[150:270, 200:340]
  Image.fromarray(picture).save(photo, quality=92)
  corrupt = tmp_path / "corrupt.jpg"
  corrupt.write_bytes(photo.read_bytes()[:100])
  hosts = []
  with sync_playwright() as driver:
    browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    page = browser.new_page(accept_downloads=True)
    page.on("request", lambda request: hosts.append(urlparse(request.url).hostname))
    page.goto(server)
    page.wait_for_selector("#model:has-text('Model ')")
    page.set_input_files("#files", str(photo))
    page.wait_for_selector(".result .heatmap[src^='data:image/png']")
    assert "image score" in page.inner_text(".result .verdict")
    with page.expect_download() as download:
      page.click(".result .mask-link")
    assert download.value.suggested_filename == "photo_mask.png"
    with Image.open(download.value.path()) as mask:
      assert mask.size == picture.shape[1::-1]
    page.set_input_files("#files", str(corrupt))
    page.wait_for_selector(".result.error")
    assert "corrupt.jpg" in page.inner_text(".result.error .verdict")
    page.set_input_files("#files", str(photo))
    page.wait_for_function("document.querySelectorAll('.result .heatmap').length == 2")
    if SCREENSHOT:
      later = "[...document.querySelectorAll('.result')].slice(0, 2)"
      page.evaluate(f"{later}.forEach(result => result.remove())")  # keep the first
      page.set_viewport_size({"width": 1100, "height": 900})
      page.screenshot(path=SCREENSHOT, full_page=True)
    browser.close()
  assert hosts and set(hosts) == {"127.0.0.1"}, hosts
