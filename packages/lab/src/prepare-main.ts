// Builds the tiny guest's kernel + initramfs into the cache (scripts/setup.sh runs this once, so
// the first lab does not pay for the download). Prints the two paths.
import { ensureGuestImage } from "./guest-image.js";

const image = await ensureGuestImage();
process.stdout.write(`${JSON.stringify(image)}\n`);
