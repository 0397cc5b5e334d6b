import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Args, Flags } from '@oclif/core'
import type { ViolationDto } from '@tw/api'
import { BaseCommand } from '../../../shared/base-command'
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../../../shared/errors'
import { certificateKeys, verifyEvidence, type EvidenceReport } from '../../../shared/evidence'
import { Messages } from '../../../shared/messages'
import { renderTable } from '../../../shared/table'

const messages = Messages.load('byzantine.evidence.verify')

/** `--cert <id>=<file>`: a node id (1..255) and a file; throws INVALID_FLAGS (exit 2). */
export function parseCertFlag(input: string): [number, string] {
  const m = /^(\d{1,3})=(.+)$/.exec(input.trim())
  const id = m ? Number(m[1]) : NaN
  if (!m || id < 1 || id > 255) throw new CliError('INVALID_FLAGS', messages.get('error.BadCertFlag', [input]), EXIT_USAGE)
  return [id, resolve(m[2])]
}

/** The violation in `text`: one ViolationDto, or a `byzantine violations --json` list narrowed by `id` (a prefix). */
export function pickViolation(text: string, file: string, id: string | undefined): ViolationDto {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new CliError('EVIDENCE_UNREADABLE', messages.get('error.NotJson', [file, err instanceof Error ? err.message : String(err)]))
  }
  let candidates: unknown[] = [data]
  const list = (data as { violations?: unknown })?.violations
  if (Array.isArray(list)) {
    candidates = list.filter((v) => id === undefined || (typeof (v as ViolationDto)?.id === 'string' && (v as ViolationDto).id.startsWith(id)))
    if (candidates.length !== 1) throw new CliError('EVIDENCE_UNREADABLE', messages.get('error.PickOne', [file, candidates.length]))
  }
  const v = candidates[0] as ViolationDto
  const valid =
    typeof v === 'object' && v !== null && typeof v.id === 'string' && typeof v.type === 'string' && Number.isInteger(v.offender) && v.offender >= 1 && v.offender <= 255
  if (!valid) throw new CliError('EVIDENCE_UNREADABLE', messages.get('error.NotViolation', [file]))
  if (id !== undefined && !v.id.startsWith(id)) throw new CliError('EVIDENCE_UNREADABLE', messages.get('error.PickOne', [file, 0]))
  return v
}

export default class ByzantineEvidenceVerify extends BaseCommand<EvidenceReport> {
  static summary = messages.get('summary')
  static description = messages.get('description')
  static examples = messages.lines('examples')

  static args = {
    file: Args.string({ required: true, description: messages.get('args.file.description') }),
  }

  static flags = {
    ca: Flags.string({ summary: messages.get('flags.ca.summary'), helpValue: '<ca.crt>' }),
    certs: Flags.string({ summary: messages.get('flags.certs.summary'), helpValue: '<dir>' }),
    cert: Flags.string({ multiple: true, summary: messages.get('flags.cert.summary'), helpValue: '<id>=<file>' }),
    threshold: Flags.integer({ default: 4, min: 1, max: 255, summary: messages.get('flags.threshold.summary') }),
    'cluster-size': Flags.integer({ default: 5, min: 1, max: 255, summary: messages.get('flags.cluster-size.summary') }),
    id: Flags.string({ summary: messages.get('flags.id.summary'), helpValue: '<id>' }),
  }

  async run(): Promise<EvidenceReport> {
    const { args, flags } = await this.parse(ByzantineEvidenceVerify)
    const file = resolve(args.file)
    if (!existsSync(file)) throw new CliError('EVIDENCE_UNREADABLE', messages.get('error.NoFile', [file]))
    const violation = pickViolation(readFileSync(file, 'utf8'), args.file, flags.id)

    // Certificates: --certs <dir> (node-<id>.crt, as `certs generate` writes), then --cert id=file (wins).
    const certFiles = new Map<number, string>()
    if (flags.certs) {
      const dir = resolve(flags.certs)
      if (!existsSync(dir)) throw new CliError('CERTS_MISSING', messages.get('error.NoCertsDir', [dir]))
      for (const f of readdirSync(dir)) {
        const m = /^node-(\d+)\.crt$/.exec(f)
        if (m) certFiles.set(Number(m[1]), join(dir, f))
      }
    }
    for (const c of flags.cert ?? []) {
      const [id, path] = parseCertFlag(c)
      certFiles.set(id, path)
    }
    const caPath = flags.ca ? resolve(flags.ca) : flags.certs ? join(resolve(flags.certs), 'ca.crt') : null
    if (!caPath || !existsSync(caPath)) throw new CliError('CERTS_MISSING', messages.get('error.NoCa', [caPath ?? '-']))
    if (certFiles.size === 0) throw new CliError('CERTS_MISSING', messages.get('error.NoCerts'))

    const report = await verifyEvidence(violation, certificateKeys(readFileSync(caPath, 'utf8'), certFiles), flags.threshold, flags['cluster-size'])
    this.log(messages.get('header', [report.violationId, report.type, report.offender]))
    this.log('')
    this.log(
      renderTable(report.checks, [
        { header: 'CHECK', get: (c) => c.check },
        { header: 'RESULT', get: (c) => c.result + (c.detail ? ` (${c.detail})` : '') },
      ]),
    )
    this.log('')
    this.log(messages.get('accusers', [report.accusers.length ? report.accusers.join(',') : 'none']))
    if (report.verdict === 'not-transferable') {
      throw new CliError('EVIDENCE_NOT_TRANSFERABLE', messages.get('error.NotTransferable', [report.type, report.accusers.length]), EXIT_FAILURE, report)
    }
    if (report.verdict !== 'proven') {
      const failed = report.checks.filter((c) => c.result === 'fail')
      const open = report.checks.filter((c) => c.result === 'unchecked')
      const why = failed.length > 0 ? messages.get('why.failed', [failed.map((c) => c.check).join('; ')]) : messages.get('why.unchecked', [open.map((c) => c.check).join('; ')])
      throw new CliError('EVIDENCE_NOT_PROVEN', messages.get('error.NotProven', [report.violationId, why]), EXIT_FAILURE, report)
    }
    this.log(messages.get('proven', [report.offender, report.type]))
    return report
  }
}
