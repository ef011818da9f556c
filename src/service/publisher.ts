/**
 * Live event fan-out: the camera manager publishes to one {@link PublisherHub}, which forwards to every attached
 * publisher (the Socket.IO server in one process; Socket.IO's Redis emitter in the scale-out). A failing
 * publisher is logged and counted, and never stops the others or the camera that published.
 */
import type { Logger } from '../shared/logger.ts';
import type { LivePublisher } from '../shared/service.ts';

export class PublisherHub implements LivePublisher {
  private readonly targets = new Set<LivePublisher>();
  /** Deliveries that threw. */
  failures = 0;

  constructor(private readonly log?: Logger) {}

  /** Attaches a publisher; returns the detach function. */
  attach(target: LivePublisher): () => void {
    this.targets.add(target);
    return () => void this.targets.delete(target);
  }

  demographics(payload: Parameters<LivePublisher['demographics']>[0]): void {
    this.each((t) => t.demographics(payload));
  }

  personEntered(payload: Parameters<LivePublisher['personEntered']>[0]): void {
    this.each((t) => t.personEntered(payload));
  }

  personLeft(payload: Parameters<LivePublisher['personLeft']>[0]): void {
    this.each((t) => t.personLeft(payload));
  }

  cameraStatus(payload: Parameters<LivePublisher['cameraStatus']>[0]): void {
    this.each((t) => t.cameraStatus(payload));
  }

  cameraChanged(payload: Parameters<LivePublisher['cameraChanged']>[0]): void {
    this.each((t) => t.cameraChanged(payload));
  }

  private each(fn: (t: LivePublisher) => void): void {
    for (const t of this.targets) {
      try {
        fn(t);
      } catch (err) {
        this.failures++;
        this.log?.warn({ err }, 'live publisher failed');
      }
    }
  }
}
