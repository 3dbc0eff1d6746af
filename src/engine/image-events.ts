// Image events as dockerd's LogImageEvent logs them: the image's Config.Labels while it is in
// the store (so a label filter sees tag, pull, load...), then `name`.
import type { EventBus } from './events.js';
import type { ImageStore } from '../image/types.js';

export type Labels = Record<string, string>;

/** Log `action` for the image `id` names (an id, or a reference for pull and push). */
export async function logImageEvent(events: EventBus, images: Pick<ImageStore, 'get'>, action: string, id: string, name: string): Promise<void> {
  const labels = await images.get(id).then((i) => i.config.Labels ?? {}, () => ({}));
  events.emit('image', action, id, { ...labels, name });
}
