/** The workflow bundle: the public workflow types, exported under their public names (contracts/names.ts). */
export { rankingCampaign } from './campaign';
export { rankingExperiment } from './experiment';
