import * as fs from 'node:fs';
import { fitTinyTrainer } from './tiny-trainer';

/**
 * The tiny trainer as a command (node --require tsx/cjs tiny-command-trainer.ts <job.json>), as a worker's owner would
 * configure one. It waits for $TINY_TRAINER_GO to exist (so a test can act while the job runs), reads the local paths
 * job.json names, and writes its outputs there; metrics.json says whether the store's secret reached its environment.
 */

interface Spec {
  data: { train: string; validation: string; test: string; columns: { name: string; role: string }[] };
  outputs: { model: string; metrics: string; validationPredictions: string; testPredictions: string };
}

async function main(): Promise<void> {
  const go = process.env.TINY_TRAINER_GO;
  console.log('tiny trainer: waiting for the go file');
  while (go && !fs.existsSync(go)) await new Promise((r) => setTimeout(r, 200));
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as Spec;
  const read = (file: string) => fs.readFileSync(file, 'utf8');
  const out = fitTinyTrainer(spec.data.columns, read(spec.data.train), read(spec.data.validation), read(spec.data.test));
  fs.writeFileSync(spec.outputs.model, out.model);
  fs.writeFileSync(spec.outputs.validationPredictions, out.validationPredictions);
  fs.writeFileSync(spec.outputs.testPredictions, out.testPredictions);
  fs.writeFileSync(spec.outputs.metrics, JSON.stringify({ sawStoreSecret: process.env.AWS_SECRET_ACCESS_KEY !== undefined }));
  console.log('tiny trainer: done');
}

void main();
