// A short message in the live region (screen readers hear it); the technical reason on hover.
const region = document.getElementById("toast");
let timer = 0;

export function toast(message, technical = "") {
  region.textContent = message;
  region.title = technical;
  region.classList.add("on");
  clearTimeout(timer);
  timer = setTimeout(() => region.classList.remove("on"), 6000);
}
