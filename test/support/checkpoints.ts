import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainingProgress } from '../../contracts';
import type { TrainExperimentRequest } from '../../ranking/experiment';
import { checkpointPath, checkpointsDir, type CheckpointSlot } from '../../store/checkpoints';

export interface SavedCheckpoint {
  step: number;
  progress: TrainingProgress;
  /** The checkpoint file's bytes as they were at that step (the slot's file is replaced by later ones). */
  bytes: Buffer;
}

let slots = 0;
const TEST_CAMPAIGN = 'checkpoint-tests';

/** A fresh checkpoint slot per call (its own experiment id), so tests never see each other's checkpoints. */
export function testSlot(label: string): CheckpointSlot {
  return { campaignId: TEST_CAMPAIGN, experimentId: `${label}-${process.pid}-${++slots}`, attempt: 1 };
}

/**
 * Records every checkpoint a run writes: its step and a copy of its bytes (the run replaces its one file in place, so a
 * test that wants to resume from a mid-run state keeps the bytes), and counts the files in the slot's folder at each
 * checkpoint (there must only ever be one).
 */
export function recordCheckpoints(slot: CheckpointSlot, everyMs = 24 * 3600_000) {
  const saved: SavedCheckpoint[] = [];
  const filesSeen: number[] = [];
  const request: Pick<TrainExperimentRequest, 'checkpoint' | 'onCheckpoint'> = {
    checkpoint: { slot, everyMs },
    onCheckpoint: (written, progress) => {
      saved.push({ step: written.step, progress, bytes: fs.readFileSync(written.path) });
      filesSeen.push(fs.readdirSync(path.dirname(written.path)).length);
    },
  };
  return { request, saved, filesSeen };
}

/** Puts a saved checkpoint back in the slot and returns the request fields that resume from it. */
export function resumeFrom(slot: CheckpointSlot, cp: SavedCheckpoint): Pick<TrainExperimentRequest, 'checkpoint'> {
  const file = checkpointPath(slot);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, cp.bytes);
  return { checkpoint: { slot, resume: true, everyMs: 24 * 3600_000 } };
}

/** Deletes the checkpoints the tests' slots left (a trainExperiment call keeps its last one; the activity deletes it). */
export function removeTestCheckpoints(): void {
  fs.rmSync(path.join(checkpointsDir(), TEST_CAMPAIGN), { recursive: true, force: true });
}
