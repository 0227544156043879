import { fireSchedule, listSchedules, pauseSchedule, resumeSchedule } from '@sidestep/ops';
import { html } from '../html.ts';
import { actionButton, badge, type Page, table } from '../page.ts';

/** Every schedule with its next fire time in its own time zone; Run now, Pause, Resume. */
export const schedulesPage: Page = async (request) => {
  const { context, t } = request;
  const schedules = await listSchedules(context);
  const local = context.environment === 'local';
  return {
    title: t('schedules.title'),
    body: html`<h1>${t('schedules.title')}</h1>
      ${table(
        t,
        [
          t('col.schedule'),
          t('col.state'),
          t('col.expression'),
          t('col.nextFire'),
          t('col.target'),
          t('col.action'),
        ],
        schedules.map((schedule) => [
          html`<strong>${schedule.name}</strong><br><small>${schedule.description}</small>`,
          badge(schedule.state),
          schedule.expression,
          schedule.nextFireLocal,
          schedule.target,
          html`<div class="actions">
            ${actionButton(request, `/schedules/${schedule.name}/fire`, t('schedules.runNow'), { object: schedule.name })}
            ${
              schedule.state === 'DISABLED'
                ? actionButton(request, `/schedules/${schedule.name}/resume`, t('schedules.resume'), {
                    disabled: local,
                    object: schedule.name,
                    ...(local ? { describedBy: 'schedules-local-clock' } : {}),
                  })
                : actionButton(request, `/schedules/${schedule.name}/pause`, t('schedules.pause'), {
                    disabled: local,
                    object: schedule.name,
                    ...(local ? { describedBy: 'schedules-local-clock' } : {}),
                  })
            }
          </div>`,
        ]),
        { id: 'schedules', label: t('schedules.title') },
      )}
      ${local ? html`<p class="note" id="schedules-local-clock">${t('schedules.localClock')}</p>` : ''}`,
  };
};

/** POST: fires the schedule now through the operator event path (audited). */
export const fireAction: Page = async ({ context, t, params }) => {
  const fired = await fireSchedule(context, params.name ?? '');
  return {
    redirect: '/schedules',
    flash: { kind: 'ok', text: t('schedules.fired', { schedule: fired.schedule, eventId: fired.eventId }) },
  };
};

/** POST: pauses or resumes the schedule (Scheduler state; audited). */
export function stateAction(change: 'pause' | 'resume'): Page {
  return async ({ context, t, params }) => {
    const changed = await (change === 'pause' ? pauseSchedule : resumeSchedule)(context, params.name ?? '');
    return {
      redirect: '/schedules',
      flash: {
        kind: 'ok',
        text: t('schedules.paused', { schedule: changed.schedule, state: changed.state }),
      },
    };
  };
}
