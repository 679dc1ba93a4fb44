// A queue of spoken calls for the TV board: each call is a chime and then a
// spoken sentence, and one never cuts another off. Dependencies are passed in
// (no DOM, no WebAudio here) so node tests can drive it.

export class Announcer {
  /**
   * chime(): Promise resolved when the chime has finished;
   * speak(text): Promise resolved when the utterance has ended (or failed);
   * isCurrent(label): whether the ticket is still called (stale calls are skipped);
   * sentence(label): the words for a call, in the board's language;
   * onAnnounce(label, text): told just before each call is played.
   */
  constructor({ chime, speak, sentence, isCurrent = () => true, onAnnounce = () => {}, pauseMs = 600, sleep }) {
    Object.assign(this, { chime, speak, sentence, isCurrent, onAnnounce, pauseMs });
    this.sleep = sleep || ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.queue = [];
    this.running = false;
    this.enabled = false;
  }

  /** Queues a call (dropped while sound is off: a TV that cannot play should not replay a backlog later). */
  enqueue(label) {
    if (!this.enabled || this.queue.includes(label)) return;
    this.queue.push(label);
    if (!this.running) this.run();
  }

  /** Turns sound on or off; turning off also drops what is queued. */
  setEnabled(on) {
    this.enabled = Boolean(on);
    if (!this.enabled) this.queue.length = 0;
  }

  async run() {
    this.running = true;
    try {
      while (this.queue.length) {
        const label = this.queue.shift();
        if (!this.enabled || !this.isCurrent(label)) continue;
        const text = this.sentence(label);
        this.onAnnounce(label, text);
        try {
          await this.chime();
          await this.speak(text);
        } catch {
          // a failed sound must not stop the calls after it
        }
        await this.sleep(this.pauseMs);
      }
    } finally {
      this.running = false;
    }
  }
}
