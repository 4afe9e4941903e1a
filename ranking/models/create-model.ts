import type { ModelConfig } from '../../contracts';
import type { DenseKernels } from '../kernels';
import type { FeatureSpec } from '../features';
import { slotCounts } from '../features';
import { DeepCrossNetwork } from './dcn';
import { FactorizationMachine } from './fm';
import { FtrlLogisticRegression } from './lr';
import type { RankingModel } from './model';

export function createModel(config: ModelConfig, spec: FeatureSpec, kernels: DenseKernels): RankingModel {
  const { catSlots, denseSlots } = slotCounts(spec);
  switch (config.family) {
    case 'lr':
      return new FtrlLogisticRegression(config);
    case 'fm':
      return new FactorizationMachine(config, kernels);
    case 'dcn':
      return new DeepCrossNetwork(config, kernels, catSlots, denseSlots);
  }
}
