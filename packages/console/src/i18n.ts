/** The console's words in English; every other catalogue has the same keys (the type says so). */
const EN = {
  'nav.overview': 'Overview',
  'nav.workflows': 'Workflows',
  'nav.queues': 'Queues',
  'nav.jobs': 'Jobs',
  'nav.schedules': 'Schedules',
  'nav.mail': 'Mail',
  'nav.audit': 'Audit',
  'app.environment': 'environment {environment}',
  'app.live': 'live',
  'app.language': 'Language',
  'app.next': 'Next page',
  'app.first': 'First page',
  'app.none': 'Nothing here.',
  'app.error': 'The action failed',
  'app.done': 'Done',
  'app.forbidden': 'Refused: this request did not come from the console’s own page.',
  'app.notFound': 'No such page.',
  'overview.title': 'Overview',
  'overview.failures': 'Recent failures',
  'overview.noFailures': 'No failures in the last 24 hours.',
  'overview.deadLetters': '{count} dead-lettered messages in {queue}',
  'overview.ledgerUnavailable': 'The jobs ledger is not reachable from here (pass --database-url).',
  'col.queue': 'Queue',
  'col.visible': 'Visible',
  'col.inFlight': 'In flight',
  'col.delayed': 'Delayed',
  'col.deadLetters': 'Dead letters',
  'col.workflow': 'Workflow',
  'col.running': 'Running',
  'col.failed24h': 'Failed (24 h)',
  'col.succeeded24h': 'Succeeded (24 h)',
  'col.registered': 'Registered',
  'col.job': 'Job',
  'col.kind': 'Kind',
  'col.state': 'State',
  'col.attempt': 'Attempt',
  'col.file': 'File',
  'col.progress': 'Progress',
  'col.error': 'Error',
  'col.created': 'Created',
  'col.updated': 'Updated',
  'col.execution': 'Execution',
  'col.status': 'Status',
  'col.started': 'Started',
  'col.stopped': 'Stopped',
  'col.redrives': 'Redrives',
  'col.state.name': 'State',
  'col.type': 'Type',
  'col.entered': 'Entered',
  'col.duration': 'Duration',
  'col.retries': 'Retries',
  'col.message': 'Message',
  'col.reason': 'Reason',
  'col.line': 'Line',
  'col.field': 'Field',
  'col.receives': 'Receives',
  'col.age': 'Age',
  'col.schedule': 'Schedule',
  'col.expression': 'Expression',
  'col.nextFire': 'Next fire (its time zone)',
  'col.target': 'Target',
  'col.at': 'At',
  'col.operator': 'Operator',
  'col.action': 'Action',
  'col.result': 'Result',
  'col.details': 'Details',
  'col.subject': 'Subject',
  'col.to': 'To',
  'col.from': 'From',
  'col.date': 'Date',
  'col.mailKey': 'Mail',
  'col.event': 'Event',
  'col.transition': 'Transition',
  'col.check': 'Redrive would',
  'workflows.title': 'Workflows',
  'workflows.executions': 'Executions',
  'workflows.allStatuses': 'all',
  'execution.title': 'Execution {name}',
  'execution.graph': 'Graph',
  'execution.timeline': 'Event timeline',
  'execution.input': 'Input',
  'execution.output': 'Output',
  'execution.errorCause': 'Error and cause',
  'execution.job': 'Job',
  'execution.redrive': 'Redrive',
  'execution.redriven': 'Redriven at {date}',
  'execution.stop': 'Stop',
  'execution.stopCause': "why (recorded, and in the job's failure)",
  'execution.stopped': 'Stopped at {date}',
  'legend.succeeded': 'succeeded',
  'legend.failed': 'failed',
  'legend.running': 'running',
  'legend.notRun': 'not run',
  'queues.title': 'Queues',
  'queues.deadLetters': 'Dead letters of {queue}',
  'queues.preview': 'Preview redrive (dry run)',
  'queues.previewTitle': 'Redrive preview of {queue}: nothing was moved',
  'queues.wouldPass': 'pass the contracts',
  'queues.wouldFail': 'fail again: {field}',
  'queues.summary': '{valid} would pass, {invalid} would fail again',
  'queues.redrive': 'Redrive {count} messages to {queue}',
  'queues.redriven': 'Redrive {status}: moved {moved}',
  'queues.peekNote':
    'SQS has no cursor over a queue: the first {limit} messages are read and made visible again at once.',
  'queues.more': 'Read {limit}',
  'jobs.title': 'Jobs',
  'jobs.all': 'all',
  'job.title': 'Job {id}',
  'job.retry': 'Retry',
  'job.rerunning': 'Its task failed and runs again after a wait',
  'job.retried': 'Retried: attempt {attempt} started',
  'job.executions': 'Executions (every attempt)',
  'job.mails': 'Mails',
  'job.transitions': 'Transitions',
  'job.attemptN': 'attempt {n}',
  'job.rows': '{done} of {total} rows',
  'job.rowsNoTotal': '{done} rows so far',
  'job.staging': 'Staging',
  'job.stagingProgress':
    '{records} records, {bytes}, {validated} of {segments} segments validated, {rejected} rows rejected so far',
  'job.stagingBytes': '{staged} of {total} MiB ({percent}%)',
  'job.stagingBytesNoTotal': '{staged} MiB',
  'job.rejected': 'Rejected rows ({count})',
  'job.rejectedNote':
    'Every row the import left out, by line. All of them as CSV: sidestep job rejected {id} --csv',
  'job.rowErrorsNote': 'The first {shown} of {count} rejected rows. The import failed: no row was imported.',
  'schedules.title': 'Schedules',
  'schedules.runNow': 'Run now',
  'schedules.pause': 'Pause',
  'schedules.resume': 'Resume',
  'schedules.fired': 'Fired {schedule} (event {eventId})',
  'schedules.paused': '{schedule} is now {state}',
  'schedules.localClock':
    'The local cloud fires schedules on its own clock: pause and resume work against AWS.',
  'mail.title': 'Mail outbox',
  'mail.localOnly': 'The outbox is the local SMTP sink’s: on AWS, mail goes out through SES.',
  'mail.html': 'HTML',
  'mail.text': 'Text',
  'audit.title': 'Audit',
} as const;

/** A key of the catalogues. */
export type MessageKey = keyof typeof EN;

const JA: Readonly<Record<MessageKey, string>> = {
  'nav.overview': '概要',
  'nav.workflows': 'ワークフロー',
  'nav.queues': 'キュー',
  'nav.jobs': 'ジョブ',
  'nav.schedules': 'スケジュール',
  'nav.mail': 'メール',
  'nav.audit': '監査',
  'app.environment': '環境 {environment}',
  'app.live': 'ライブ',
  'app.language': '言語',
  'app.next': '次のページ',
  'app.first': '最初のページ',
  'app.none': '項目はありません。',
  'app.error': '操作に失敗しました',
  'app.done': '完了',
  'app.forbidden': '拒否: このリクエストはコンソール自身のページから送られていません。',
  'app.notFound': 'ページが見つかりません。',
  'overview.title': '概要',
  'overview.failures': '最近の失敗',
  'overview.noFailures': '過去24時間に失敗はありません。',
  'overview.deadLetters': '{queue} にデッドレターが {count} 件',
  'overview.ledgerUnavailable': 'ジョブ台帳にここから接続できません（--database-url を指定してください）。',
  'col.queue': 'キュー',
  'col.visible': '待機中',
  'col.inFlight': '処理中',
  'col.delayed': '遅延',
  'col.deadLetters': 'デッドレター',
  'col.workflow': 'ワークフロー',
  'col.running': '実行中',
  'col.failed24h': '失敗（24時間）',
  'col.succeeded24h': '成功（24時間）',
  'col.registered': '登録済み',
  'col.job': 'ジョブ',
  'col.kind': '種類',
  'col.state': '状態',
  'col.attempt': '試行',
  'col.file': 'ファイル',
  'col.progress': '進捗',
  'col.error': 'エラー',
  'col.created': '作成',
  'col.updated': '更新',
  'col.execution': '実行',
  'col.status': 'ステータス',
  'col.started': '開始',
  'col.stopped': '終了',
  'col.redrives': '再実行',
  'col.state.name': 'ステート',
  'col.type': 'タイプ',
  'col.entered': '開始時刻',
  'col.duration': '所要時間',
  'col.retries': 'リトライ',
  'col.message': 'メッセージ',
  'col.reason': '理由',
  'col.line': '行',
  'col.field': '項目',
  'col.receives': '受信回数',
  'col.age': '経過',
  'col.schedule': 'スケジュール',
  'col.expression': '式',
  'col.nextFire': '次回実行（各タイムゾーン）',
  'col.target': 'ターゲット',
  'col.at': '日時',
  'col.operator': 'オペレーター',
  'col.action': '操作',
  'col.result': '結果',
  'col.details': '詳細',
  'col.subject': '件名',
  'col.to': '宛先',
  'col.from': '送信者',
  'col.date': '日付',
  'col.mailKey': 'メール',
  'col.event': 'イベント',
  'col.transition': '遷移',
  'col.check': '再投入すると',
  'workflows.title': 'ワークフロー',
  'workflows.executions': '実行',
  'workflows.allStatuses': 'すべて',
  'execution.title': '実行 {name}',
  'execution.graph': 'グラフ',
  'execution.timeline': 'イベントタイムライン',
  'execution.input': '入力',
  'execution.output': '出力',
  'execution.errorCause': 'エラーと原因',
  'execution.job': 'ジョブ',
  'execution.redrive': '再実行（Redrive）',
  'execution.redriven': '{date} に再実行しました',
  'execution.stop': '停止',
  'execution.stopCause': '理由（記録され、ジョブの失敗理由になります）',
  'execution.stopped': '{date} に停止しました',
  'legend.succeeded': '成功',
  'legend.failed': '失敗',
  'legend.running': '実行中',
  'legend.notRun': '未実行',
  'queues.title': 'キュー',
  'queues.deadLetters': '{queue} のデッドレター',
  'queues.preview': '再投入のプレビュー（ドライラン）',
  'queues.previewTitle': '{queue} の再投入プレビュー: 何も移動していません',
  'queues.wouldPass': '契約に合格',
  'queues.wouldFail': '再び失敗: {field}',
  'queues.summary': '合格 {valid} 件、再び失敗 {invalid} 件',
  'queues.redrive': '{count} 件を {queue} に再投入',
  'queues.redriven': '再投入 {status}: {moved} 件移動',
  'queues.peekNote':
    'SQS にはキューのカーソルがありません: 先頭 {limit} 件を読み取り、すぐに再び可視にします。',
  'queues.more': '{limit} 件読む',
  'jobs.title': 'ジョブ',
  'jobs.all': 'すべて',
  'job.title': 'ジョブ {id}',
  'job.retry': 'リトライ',
  'job.rerunning': 'タスクが失敗したため、待機後に再実行します',
  'job.retried': 'リトライしました: 試行 {attempt} を開始',
  'job.executions': '実行（すべての試行）',
  'job.mails': 'メール',
  'job.transitions': '遷移',
  'job.attemptN': '試行 {n}',
  'job.rows': '{total} 行中 {done} 行',
  'job.rowsNoTotal': 'これまでに {done} 行',
  'job.staging': 'ステージング',
  'job.stagingProgress':
    '{records} レコード、{bytes}、{segments} セグメント中 {validated} 検証済み、これまでに {rejected} 行を除外',
  'job.stagingBytes': '{total} MiB 中 {staged} MiB（{percent}%）',
  'job.stagingBytesNoTotal': '{staged} MiB',
  'job.rejected': '除外された行（{count} 行）',
  'job.rejectedNote':
    'インポートで除外されたすべての行（行番号順）。全件を CSV で: sidestep job rejected {id} --csv',
  'job.rowErrorsNote':
    '除外された {count} 行のうち最初の {shown} 行。インポートは失敗し、1 行も取り込まれていません。',
  'schedules.title': 'スケジュール',
  'schedules.runNow': '今すぐ実行',
  'schedules.pause': '一時停止',
  'schedules.resume': '再開',
  'schedules.fired': '{schedule} を実行しました（イベント {eventId}）',
  'schedules.paused': '{schedule} は {state} になりました',
  'schedules.localClock':
    'ローカルクラウドは自身の時計でスケジュールを実行します: 一時停止と再開は AWS で使えます。',
  'mail.title': 'メール送信箱',
  'mail.localOnly': '送信箱はローカル SMTP シンクのものです: AWS では SES から送信されます。',
  'mail.html': 'HTML',
  'mail.text': 'テキスト',
  'audit.title': '監査',
};

/** The console's languages, the first the default. */
export const LOCALES = ['en', 'ja'] as const;
export type Locale = (typeof LOCALES)[number];

const CATALOGUES: Readonly<Record<Locale, Readonly<Record<MessageKey, string>>>> = { en: EN, ja: JA };

function known(value: string | undefined): Locale | undefined {
  const base = value?.trim().toLowerCase().split('-')[0];
  return LOCALES.find((locale) => locale === base);
}

/**
 * The language of a request: `?lang=` when given (the switcher's link), else the `lang` cookie it
 * set, else the first of the browser's Accept-Language (by q-value) the console speaks, else English.
 */
export function chooseLocale(choice: {
  readonly query?: string | null | undefined;
  readonly cookie?: string | undefined;
  readonly acceptLanguage?: string | undefined;
}): Locale {
  const chosen = known(choice.query ?? undefined) ?? known(choice.cookie);
  if (chosen) return chosen;
  const ranked = (choice.acceptLanguage ?? '')
    .split(',')
    .map((part, index) => {
      const [tag, ...parameters] = part.split(';');
      const q = parameters.map((parameter) => /^\s*q=([\d.]+)\s*$/.exec(parameter)?.[1]).find(Boolean);
      return { tag, q: q === undefined ? 1 : Number(q), index };
    })
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const entry of ranked) {
    const locale = known(entry.tag);
    if (locale) return locale;
  }
  return 'en';
}

/** Translates `key` into `locale`, filling `{name}` placeholders from `params`. */
export type Translate = (key: MessageKey, params?: Readonly<Record<string, string | number>>) => string;

/** The {@link Translate} of `locale`. */
export function translator(locale: Locale): Translate {
  const catalogue = CATALOGUES[locale];
  return (key, params = {}) =>
    catalogue[key].replace(/\{(\w+)\}/g, (placeholder, name: string) =>
      name in params ? String(params[name]) : placeholder,
    );
}
