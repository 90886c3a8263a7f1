/* The `dejpeg serve` page: upload JPEGs (drop or choose), follow each upload and restoration, compare a result in
   the viewer, download one result or all of them as a zip. The server checks everything this script checks. */
"use strict";

const config = JSON.parse(document.getElementById("dj-config").textContent);
const jobs = new Map(); // id -> {row, status, ...}; rows of refused uploads have no id
let shown = null;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function addRow(name) {
  const row = element("li", "dj-job");
  row.append(element("span", "dj-job-name", name), element("progress", "dj-progress"), element("span", "dj-job-state", "uploading"));
  const actions = element("span", "dj-job-actions");
  row.append(actions);
  document.getElementById("jobs").append(row);
  return row;
}

function setState(row, text, failed) {
  const state = row.querySelector(".dj-job-state");
  state.textContent = text;
  row.classList.toggle("dj-failed", Boolean(failed));
}

function upload(file) {
  const row = addRow(file.name);
  const progress = row.querySelector("progress");
  if (file.size > config.maxBytes) {
    progress.remove();
    setState(row, `refused: ${(file.size / 1e6).toFixed(1)} MB is over the ${config.maxBytes / 1e6} MB limit`, true);
    return;
  }
  const request = new XMLHttpRequest();
  request.open("POST", `api/jobs?name=${encodeURIComponent(file.name)}`);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) progress.value = event.loaded / event.total;
  });
  request.addEventListener("load", () => {
    let answer;
    try {
      answer = JSON.parse(request.responseText);
    } catch {
      answer = { error: `the server answered ${request.status}` };
    }
    if (request.status !== 201) {
      progress.remove();
      setState(row, `refused: ${answer.error}`, true);
      return;
    }
    progress.removeAttribute("value"); // indeterminate while queued and restoring
    jobs.set(answer.id, { row, status: "queued", name: answer.name });
    showJob(answer);
    updateOverall();
  });
  request.addEventListener("error", () => {
    progress.remove();
    setState(row, "upload failed (is the server still running?)", true);
  });
  request.send(file);
}

function showJob(job) {
  const entry = jobs.get(job.id);
  entry.status = job.status;
  const row = entry.row;
  if (job.status === "queued") setState(row, job.ahead ? `queued (${job.ahead} ahead)` : "queued");
  else if (job.status === "restoring") setState(row, `restoring... ${job.seconds.toFixed(1)} s`);
  else if (job.status === "failed") {
    row.querySelector("progress")?.remove();
    setState(row, `failed: ${job.error}`, true);
  } else if (job.status === "done") {
    row.querySelector("progress")?.remove();
    const facts = job.comparison;
    setState(row, `restored in ${job.seconds.toFixed(1)} s: ${facts.width} \u00d7 ${facts.height}, JPEG quality ${facts.quality}`);
    const actions = row.querySelector(".dj-job-actions");
    const compare = element("button", "dj-button dj-compare", "Compare");
    compare.type = "button";
    compare.addEventListener("click", () => showComparison(job));
    const download = element("a", "dj-button dj-download", "Download");
    download.href = `api/jobs/${job.id}/result`;
    download.download = job.result_name;
    actions.append(compare, download);
    entry.job = job;
    if (!shown) showComparison(job);
  }
}

function showComparison(job) {
  shown = job.id;
  const section = document.getElementById("compare");
  section.hidden = false;
  document.getElementById("compare-title").textContent = job.name;
  const viewer = document.getElementById("viewer").viewer;
  const label = document.querySelector(".dj-label-before");
  label.textContent = `JPEG q${job.comparison.quality}`;
  viewer.setImages(`api/jobs/${job.id}/before.png`, `api/jobs/${job.id}/after.png`, job.comparison.width, job.comparison.height);
  for (const entry of jobs.values()) entry.row.classList.toggle("dj-shown", entry.job === job);
}

function updateOverall() {
  const all = Array.from(jobs.entries());
  const done = all.filter(([, entry]) => entry.status === "done").map(([id]) => id);
  const finished = all.filter(([, entry]) => entry.status === "done" || entry.status === "failed").length;
  document.getElementById("overall").textContent = all.length ? `${finished} of ${all.length} finished` : "";
  const zip = document.getElementById("zip");
  zip.hidden = done.length === 0;
  zip.href = `api/zip?ids=${done.join(",")}`;
}

async function poll() {
  for (const [id, entry] of jobs) {
    if (entry.status === "done" || entry.status === "failed") continue;
    try {
      const answer = await fetch(`api/jobs/${id}`);
      if (answer.ok) showJob(await answer.json());
    } catch {
      setState(entry.row, "lost contact with the server", true);
    }
  }
  updateOverall();
  setTimeout(poll, 300);
}

function uploadAll(files) {
  for (const file of files) upload(file);
}

const drop = document.getElementById("drop");
const chooser = document.getElementById("files");
chooser.addEventListener("change", () => {
  uploadAll(chooser.files);
  chooser.value = "";
});
// Files dropped anywhere on the page are uploaded (a browser would otherwise open them in place of the page).
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("dj-dragging");
});
document.addEventListener("dragleave", () => drop.classList.remove("dj-dragging"));
document.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("dj-dragging");
  uploadAll(event.dataTransfer.files);
});
poll();
