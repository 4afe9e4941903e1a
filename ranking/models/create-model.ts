import type { ModelConfig } from '../../contracts';
import type { DenseKernels } from '../kernels';
import type { FeatureSpec } from '../features';
import { featureTableRows, listPoolsOf, slotCounts } from '../features';
import { DeepCrossNetwork } from './dcn';
import { FactorizationMachine } from './fm';
import { FtrlLogisticRegression } from './lr';
import type { RankingModel } from './model';

export function createModel(config: ModelConfig, spec: FeatureSpec, kernels: DenseKernels): RankingModel {
  const { catSlots, denseSlots } = slotCounts(spec);
  const tableRows = featureTableRows(spec);
  switch (config.family) {
    case 'lr':
      return new FtrlLogisticRegression(config, tableRows);
    case 'fm':
      return new FactorizationMachine(config, kernels, tableRows, listPoolsOf(spec));
    case 'dcn':
      return new DeepCrossNetwork(config, kernels, catSlots, denseSlots, tableRows, listPoolsOf(spec));
  }
}
