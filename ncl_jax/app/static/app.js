// Sends each dropped or picked file to /api/predict, one after another, and shows
// its heat map, mask, score and decision. Every request goes to this server only.
"use strict";

let model = {};

async function loadModel() {
  model = await (await fetch("/api/model")).json();
  const name = model.name ? `${model.name} (version ${model.version})` : `checkpoint ${model.checkpoint} (step ${model.step})`;
  const rate = model.false_alarm_rate != null ? ` at ${Math.round(model.false_alarm_rate * 100)}% false alarms on its validation photos` : "";
  document.getElementById("model").textContent =
    model.decision_threshold != null
      ? `Model ${name}: "edited" means an image score above ${model.decision_threshold.toFixed(3)}${rate}.`
      : `Model ${name}: it has no calibrated decision; read the score and the heat map.`;
}

function verdictOf(record) {
  const score = `image score ${record.image_score.toFixed(3)}`;
  if (record.edited === null) return { text: score, css: "" };
  return record.edited ? { text: `${score}: edited`, css: "edited" } : { text: `${score}: not edited`, css: "untouched" };
}

function caveat() {
  const span = document.createElement("span");
  span.textContent = "A heat map is evidence to look at, not proof. The model does not detect fully generated images, global filters or heavy recompression. ";
  if (model.model_card) {
    const link = document.createElement("a");
    link.href = model.model_card;
    link.textContent = "Model card";
    link.rel = "noopener";
    span.appendChild(link);
  }
  return span;
}

function addResult(name, answer) {
  const node = document.getElementById("result").content.firstElementChild.cloneNode(true);
  node.querySelector(".name").textContent = name;
  if (answer.error) {
    node.classList.add("error");
    node.querySelector(".verdict").textContent = answer.error;
    node.querySelector(".pictures").remove();
    node.querySelector(".downloads").remove();
  } else {
    const record = answer.record;
    const verdict = verdictOf(record);
    const strong = document.createElement("strong");
    strong.textContent = verdict.text;
    strong.className = verdict.css;
    node.querySelector(".verdict").appendChild(strong);
    node.querySelector(".heatmap").src = answer.pictures.prob;
    node.querySelector(".overlay").src = answer.pictures.overlay;
    const mask = node.querySelector(".mask-link");
    mask.href = answer.pictures.mask;
    mask.download = record.outputs.mask;
    const json = node.querySelector(".json-link");
    json.href = URL.createObjectURL(new Blob([JSON.stringify(record, null, 1)], { type: "application/json" }));
    json.download = record.outputs.mask.replace(/_mask\.png$/, ".json");
    node.querySelector(".caveat").appendChild(caveat());
  }
  document.getElementById("results").prepend(node);
}

async function predictFiles(files) {
  const progress = document.getElementById("progress");
  for (let i = 0; i < files.length; i++) {
    progress.textContent = `Predicting ${i + 1} of ${files.length}: ${files[i].name}\u2026`;
    let answer;
    try {
      const response = await fetch(`/api/predict?name=${encodeURIComponent(files[i].name)}`, { method: "POST", body: files[i] });
      answer = await response.json();
    } catch (error) {
      answer = { error: `${files[i].name}: the server did not answer (${error})` };
    }
    addResult(files[i].name, answer);
  }
  progress.textContent = `Done: ${files.length} file(s).`;
}

const drop = document.getElementById("drop");
const input = document.getElementById("files");
input.addEventListener("change", () => { predictFiles([...input.files]); input.value = ""; });
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => { event.preventDefault(); drop.classList.remove("over"); predictFiles([...event.dataTransfer.files]); });
loadModel();
