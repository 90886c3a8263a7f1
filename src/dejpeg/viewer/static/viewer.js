/* Before/after viewer: the "before" image on the left of a movable split, the "after" image on its right, both
   zoomed and panned together. Zoom is in screen (device) pixels per image pixel, so 100 % shows each image pixel
   on one screen pixel: images are placed on whole device pixels and drawn without resampling; above 100 % each
   pixel is a sharp square (image-rendering: pixelated). */
"use strict";

class DejpegViewer {
  static ZOOMS = [1 / 16, 1 / 8, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32];

  constructor(root) {
    this.root = root;
    this.images = Array.from(root.querySelectorAll(".dj-layer img"));
    this.after = root.querySelector(".dj-after");
    this.split = root.querySelector(".dj-split");
    this.zoomLabel = document.querySelector(`[data-zoom-of="${root.id}"]`);
    this.width = Number(root.dataset.width);
    this.height = Number(root.dataset.height);
    this.fraction = 0.5;
    this.zoom = 1;
    this.x = 0;
    this.y = 0;
    this.drag = null;
    root.addEventListener("pointerdown", (event) => this.startDrag(event));
    root.addEventListener("pointermove", (event) => this.moveDrag(event));
    root.addEventListener("pointerup", () => this.endDrag());
    root.addEventListener("pointercancel", () => this.endDrag());
    root.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    root.addEventListener("keydown", (event) => this.key(event));
    for (const button of document.querySelectorAll(`[data-viewer="${root.id}"]`)) {
      button.addEventListener("click", () => this.command(button.dataset.action));
    }
    new ResizeObserver(() => this.render()).observe(root);
    if (this.width && this.height) this.fit();
  }

  /** Show another pair of images (the web app reuses one viewer). */
  setImages(beforeSrc, afterSrc, width, height) {
    this.images[0].src = beforeSrc;
    this.images[1].src = afterSrc;
    this.width = width;
    this.height = height;
    this.root.dataset.width = width;
    this.root.dataset.height = height;
    this.fit();
  }

  get ratio() {
    return window.devicePixelRatio || 1;
  }

  /** The largest zoom showing the whole image: a whole number of screen pixels per image pixel when above 100 %
      (every pixel the same size), at most 100 % for images larger than the view. */
  fitZoom() {
    const box = this.root.getBoundingClientRect();
    const fit = Math.min(box.width / this.width, box.height / this.height) * this.ratio;
    return fit >= 1 ? Math.floor(fit) : fit;
  }

  fit() {
    this.zoom = this.fitZoom();
    this.x = this.y = Number.NaN; // centred by render
    this.render();
  }

  command(action) {
    const box = this.root.getBoundingClientRect();
    if (action === "fit") this.fit();
    else if (action === "actual") this.zoomAt(1, box.width / 2, box.height / 2);
    else if (action === "in" || action === "out") this.zoomAt(this.nextZoom(action === "in" ? 1 : -1), box.width / 2, box.height / 2);
  }

  nextZoom(direction) {
    const steps = DejpegViewer.ZOOMS;
    const candidates = direction > 0 ? steps.filter((z) => z > this.zoom * 1.001) : steps.filter((z) => z < this.zoom / 1.001);
    if (!candidates.length) return this.zoom;
    return direction > 0 ? candidates[0] : candidates[candidates.length - 1];
  }

  /** Zoom to ``zoom`` keeping the image point under (px, py) (view coordinates, CSS pixels) in place. */
  zoomAt(zoom, px, py) {
    const before = this.zoom / this.ratio;
    const after = zoom / this.ratio;
    this.x = px - ((px - this.x) / before) * after;
    this.y = py - ((py - this.y) / before) * after;
    this.zoom = zoom;
    this.render();
  }

  setFraction(fraction) {
    this.fraction = Math.min(1, Math.max(0, fraction));
    this.render();
  }

  startDrag(event) {
    if (event.button !== 0) return;
    this.root.focus({ preventScroll: true });
    const onSplit = this.split.contains(event.target);
    this.drag = { split: onSplit, x: event.clientX - this.x, y: event.clientY - this.y };
    this.root.setPointerCapture(event.pointerId);
    if (onSplit) this.split.focus({ preventScroll: true });
    else this.root.classList.add("dj-panning");
    event.preventDefault();
  }

  moveDrag(event) {
    if (!this.drag) return;
    if (this.drag.split) {
      const box = this.root.getBoundingClientRect();
      this.setFraction((event.clientX - box.left) / box.width);
    } else {
      this.x = event.clientX - this.drag.x;
      this.y = event.clientY - this.drag.y;
      this.render();
    }
  }

  endDrag() {
    this.drag = null;
    this.root.classList.remove("dj-panning");
  }

  wheel(event) {
    event.preventDefault();
    const box = this.root.getBoundingClientRect();
    this.zoomAt(this.nextZoom(event.deltaY < 0 ? 1 : -1), event.clientX - box.left, event.clientY - box.top);
  }

  key(event) {
    const step = event.shiftKey ? 0.1 : 0.01;
    const actions = {
      ArrowLeft: () => this.setFraction(this.fraction - step),
      ArrowRight: () => this.setFraction(this.fraction + step),
      Home: () => this.setFraction(0),
      End: () => this.setFraction(1),
      "+": () => this.command("in"),
      "=": () => this.command("in"),
      "-": () => this.command("out"),
      "1": () => this.command("actual"),
      f: () => this.command("fit"),
    };
    const action = actions[event.key];
    if (action && !event.ctrlKey && !event.metaKey && !event.altKey) {
      action();
      event.preventDefault();
    }
  }

  /** Place the images a whole number of device pixels from the view's corner (which the browser puts on a
      device pixel: so 100 % needs no resampling), centred on an axis where they are smaller than the view and
      kept covering it where they are larger. */
  place(offset, size, view) {
    const onGrid = (value) => Math.round(value * this.ratio) / this.ratio;
    if (size <= view || Number.isNaN(offset)) return onGrid((view - size) / 2);
    return onGrid(Math.min(0, Math.max(view - size, offset)));
  }

  render() {
    if (!this.width || !this.height) return;
    const box = this.root.getBoundingClientRect();
    const scale = this.zoom / this.ratio;
    this.x = this.place(this.x, this.width * scale, box.width);
    this.y = this.place(this.y, this.height * scale, box.height);
    const transform = `translate(${this.x}px, ${this.y}px) scale(${scale})`;
    for (const image of this.images) image.style.transform = transform;
    const split = Math.round(this.fraction * box.width * this.ratio) / this.ratio;
    this.after.style.clipPath = `inset(0 0 0 ${split}px)`;
    this.split.style.left = `${split}px`;
    this.split.setAttribute("aria-valuenow", String(Math.round(this.fraction * 100)));
    this.root.classList.toggle("dj-pixelated", this.zoom > 1);
    if (this.zoomLabel) this.zoomLabel.textContent = `${Math.round(this.zoom * 1000) / 10} %`;
  }
}

window.DejpegViewer = DejpegViewer;
document.addEventListener("DOMContentLoaded", () => {
  for (const root of document.querySelectorAll(".dj-viewer")) root.viewer = new DejpegViewer(root);
});
