"""The page's server: a Starlette app around one Predictor.

  GET  /                      the page (ncl_jax/app/static/index.html)
  GET  /static/<file>         its script and style, from the package
  GET  /api/model             the model: name, version, SHA-256, decision threshold
  POST /api/predict?name=F    the image file as the request body -> the record
                              `ncl_jax.predict` writes for it, and its pictures
                              (heat map, overlay, mask) as PNG data URLs

An upload is refused before decoding when its body exceeds MAX_UPLOAD_BYTES or
its header declares more than MAX_PIXELS pixels, and when it is empty, not an
image, or smaller than MIN_SIDE pixels on a side; every refusal is a JSON
{"error": message} with a 4xx status, and the server goes on serving. Each upload
is predicted from a temporary folder that is removed when the answer is sent;
predictions run one at a time in a worker thread, so two uploads at once queue.
"""

import base64
import io
import pathlib
import re
import tempfile
import threading

import anyio
import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ncl_jax import predict

STATIC = pathlib.Path(__file__).with_name("static")
MAX_UPLOAD_BYTES = 30 * 2**20
MAX_PIXELS = 40_000_000
MIN_SIDE = 8
PICTURES = ("prob", "overlay", "mask")


class UploadError(ValueError):
  """An upload the page cannot predict, with the message the user sees."""

  def __init__(self, message: str, status: int = 400):
    super().__init__(message)
    self.status = status


async def read_upload(request: Request) -> bytes:
  """The request body, refused (413) as soon as it exceeds MAX_UPLOAD_BYTES."""
  declared = request.headers.get("content-length")
  if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
    raise UploadError(f"the file is over the {MAX_UPLOAD_BYTES // 2**20} MB upload limit", 413)
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > MAX_UPLOAD_BYTES:
      raise UploadError(f"the file is over the {MAX_UPLOAD_BYTES // 2**20} MB upload limit", 413)
    chunks.append(chunk)
  data = b"".join(chunks)
  if not data:
    raise UploadError("the upload is empty")
  return data


def check_image(data: bytes, name: str) -> None:
  """Reads only the header: refuses non-images, bombs and images too small."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      width, height = image.size
  except Exception as error:  # PIL raises many types on what it cannot read
    raise UploadError(f"{name} is not an image this page reads (JPEG, PNG, WebP, TIFF)") from error
  if width * height > MAX_PIXELS:
    raise UploadError(
      f"{name} is {width}x{height} pixels, over the limit of {MAX_PIXELS:,} pixels", 413
    )
  if min(width, height) < MIN_SIDE:
    raise UploadError(f"{name} is {width}x{height} pixels; the model needs {MIN_SIDE} on a side")


def safe_name(name: str) -> str:
  """A file name for the upload: its base name, with only harmless characters."""
  base = pathlib.PurePath(name or "upload").name
  return re.sub(r"[^A-Za-z0-9._-]", "_", base)[:120] or "upload"


def data_url(path: pathlib.Path) -> str:
  """A PNG file as a data URL."""
  return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def predict_upload(predictor, data: bytes, name: str) -> dict:
  """Predicts an upload as `ncl_jax.predict` predicts a file, in a temporary folder."""
  with tempfile.TemporaryDirectory(prefix="ncl_jax_app_") as folder:
    folder = pathlib.Path(folder)
    file = folder / "upload" / name
    file.parent.mkdir()
    file.write_bytes(data)
    stem = file.name.rsplit(".", 1)[0] if "." in file.name[1:] else file.name
    record = predict.predict_file(predictor, file, stem, folder)
    record["file"] = name
    pictures = {kind: data_url(folder / record["outputs"][kind]) for kind in PICTURES}
  return {"record": record, "pictures": pictures}


def create_app(predictor, model_card_url: str = "") -> Starlette:
  """The app serving `predictor` (compiled here, once, before the first request)."""
  predictor.predict(np.zeros((predictor.image_size,) * 2 + (3,), np.uint8))
  lock = threading.Lock()

  def predict_locked(data, name):
    with lock:
      return predict_upload(predictor, data, name)

  async def page(request):
    return FileResponse(STATIC / "index.html")

  async def model(request):
    return JSONResponse(
      {
        **predictor.model_info,
        "decision_threshold": predictor.decision_threshold,
        "false_alarm_rate": predictor.false_alarm_rate,
        "model_card": model_card_url,
      }
    )

  async def predict_endpoint(request):
    name = safe_name(request.query_params.get("name", ""))
    try:
      data = await read_upload(request)
      check_image(data, name)
      result = await anyio.to_thread.run_sync(predict_locked, data, name)
    except UploadError as error:
      return JSONResponse({"error": str(error)}, status_code=error.status)
    except Exception as error:  # a file PIL opens but cannot decode, and the like
      return JSONResponse({"error": f"{name} could not be read: {error}"}, status_code=422)
    return JSONResponse(result)

  return Starlette(
    routes=[
      Route("/", page),
      Route("/api/model", model),
      Route("/api/predict", predict_endpoint, methods=["POST"]),
      Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
  )
