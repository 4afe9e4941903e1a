import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { QUERIES, SIGNALS, UPDATES } from '../contracts/names';
import type {
  AbortRequest,
  ApproveRequest,
  CampaignStatus,
  Decision,
  OverrideRequest,
  PauseRequest,
  RejectRequest,
  ResumeRequest,
} from '../contracts';

/** Typed message definitions of rankingCampaign; names come from contracts/names.ts (the public contract). */
export const statusQuery = defineQuery<CampaignStatus>(QUERIES.status);

// Updates: validated before they are accepted, and the caller gets the recorded decision back.
export const approveUpdate = defineUpdate<Decision, [ApproveRequest]>(UPDATES.approve);
export const rejectUpdate = defineUpdate<Decision, [RejectRequest]>(UPDATES.reject);
export const overrideUpdate = defineUpdate<Decision, [OverrideRequest]>(UPDATES.override);
export const abortUpdate = defineUpdate<Decision, [AbortRequest]>(UPDATES.abort);
export const pauseUpdate = defineUpdate<Decision, [PauseRequest]>(UPDATES.pause);
export const resumeUpdate = defineUpdate<Decision, [ResumeRequest]>(UPDATES.resume);

// Signals with the same payloads, for the Web UI's signal form (which cannot send updates).
export const approveSignal = defineSignal<[ApproveRequest]>(SIGNALS.approve);
export const rejectSignal = defineSignal<[RejectRequest]>(SIGNALS.reject);
export const overrideSignal = defineSignal<[OverrideRequest]>(SIGNALS.override);
export const abortSignal = defineSignal<[AbortRequest]>(SIGNALS.abort);
export const pauseSignal = defineSignal<[PauseRequest]>(SIGNALS.pause);
export const resumeSignal = defineSignal<[ResumeRequest]>(SIGNALS.resume);
