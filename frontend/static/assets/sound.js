// Short sounds made with WebAudio oscillators: no audio files to ship.
// Browsers keep audio locked until a user gesture, so pages call unlock()
// from a click or key handler; before that, play() resolves silently.

/** A rising three-note chime for "a ticket was called". */
export const CHIME = [
  { freq: 659.25, at: 0, dur: 0.35 },
  { freq: 830.61, at: 0.18, dur: 0.35 },
  { freq: 987.77, at: 0.36, dur: 0.7 },
];

/** A more insistent pattern for "it is your turn". */
export const YOUR_TURN = [
  { freq: 880, at: 0, dur: 0.16 },
  { freq: 1175, at: 0.2, dur: 0.16 },
  { freq: 880, at: 0.4, dur: 0.16 },
  { freq: 1175, at: 0.6, dur: 0.16 },
  { freq: 1568, at: 0.8, dur: 0.5 },
];

export class SoundPlayer {
  constructor(volume = 0.25) {
    this.volume = volume;
    this.ctx = null;
  }

  /** Creates or resumes the AudioContext; call from a user gesture. Returns whether sound is available. */
  async unlock() {
    const AudioCtx = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!AudioCtx) return false;
    try {
      if (!this.ctx) this.ctx = new AudioCtx();
      if (this.ctx.state !== 'running') await this.ctx.resume();
      return this.ctx.state === 'running';
    } catch {
      return false;
    }
  }

  /** Whether play() will be heard (as far as the page can tell). */
  get ready() {
    return Boolean(this.ctx && this.ctx.state === 'running');
  }

  /** Plays `notes`; resolves when the last one has faded (at once if audio is locked). */
  play(notes = CHIME) {
    if (!this.ready) return Promise.resolve(false);
    const ctx = this.ctx;
    const start = ctx.currentTime + 0.02;
    let end = start;
    for (const note of notes) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      const t0 = start + note.at;
      const t1 = t0 + note.dur;
      osc.type = 'sine';
      osc.frequency.setValueAtTime(note.freq, t0);
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(this.volume, t0 + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, t1);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0);
      osc.stop(t1 + 0.02);
      end = Math.max(end, t1);
    }
    const ms = (end - ctx.currentTime) * 1000 + 60;
    return new Promise((resolve) => setTimeout(() => resolve(true), ms));
  }
}
