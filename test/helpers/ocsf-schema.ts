/**
 * A small OCSF validator over the schema's own source files (../shared/ocsf/ at
 * 1.7.0: dictionary, base event, system classes, objects, profiles), so tests
 * check ctrace's OCSF records against the schema, not against our own idea of it.
 *
 * It resolves `extends` (class → system → base_event; process → process_entity →
 * _entity → object), merges `$include`d profiles (their attributes allowed only
 * when the record lists the profile in metadata.profiles), merges enums (the
 * dictionary's with the class's or object's) and checks, recursively: required
 * attributes present, no attribute the class or object does not define, types
 * (string, integer, long, float, boolean, object, arrays, the regex of derived
 * types), enum values and their sibling captions, `at_least_one`/`just_one`
 * constraints, class_uid/category_uid/type_uid, and no deprecated attribute.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `shared/ocsf` beside the repository or beside one of its parents (a worktree sits deeper), or
 * $CTRACE_OCSF_DIR; a clone elsewhere (a check-out in /tmp) finds the team's copy at the
 * workspace's /work/shared, as test/classify.test.ts finds its vectors.
 */
export const OCSF_DIR = ((): string => {
  if (process.env.CTRACE_OCSF_DIR) return process.env.CTRACE_OCSF_DIR;
  const repo = resolve(fileURLToPath(import.meta.url), '../../..');
  for (let d = dirname(repo); ; d = dirname(d)) {
    if (existsSync(join(d, 'shared', 'ocsf', 'dictionary.json'))) return join(d, 'shared', 'ocsf');
    if (d === dirname(d)) break;
  }
  const workspace = '/work/shared/ocsf';
  return existsSync(join(workspace, 'dictionary.json')) ? workspace : join(dirname(repo), 'shared', 'ocsf');
})();

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface AttrDef {
  type: string;
  isArray: boolean;
  requirement: string;
  /** gated by this profile (null: always allowed) */
  profile: string | null;
  enum: Record<string, { caption: string }> | null;
  sibling: string | null;
  deprecated: boolean;
}

interface Shape {
  name: string;
  attrs: Map<string, AttrDef>;
  constraints: { at_least_one?: string[]; just_one?: string[] };
}

/** The System Activity category: the only category these files hold besides the base event. */
const CATEGORY_UIDS: Record<string, number> = { system: 1, other: 0 };

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

export class OcsfSchema {
  readonly version: string;
  private readonly dict: Json;
  private readonly types: Json;
  private readonly profiles = new Map<string, Json>();
  private readonly objectFiles = new Map<string, Json>();
  private readonly classFiles = new Map<string, Json>();
  /** class_uid → class name */
  readonly classUids = new Map<number, string>();
  private readonly shapes = new Map<string, Shape>();

  constructor(dir = OCSF_DIR) {
    if (!existsSync(join(dir, 'dictionary.json'))) throw new Error(`no OCSF schema in ${dir}`);
    this.version = readJson(join(dir, 'version.json')).version as string;
    this.dict = readJson(join(dir, 'dictionary.json')).attributes as Json;
    this.types = readJson(join(dir, 'dictionary.json')).types.attributes as Json;
    for (const f of readdirSync(join(dir, 'profiles'))) {
      const p = readJson(join(dir, 'profiles', f));
      this.profiles.set(p.name as string, p);
    }
    for (const f of readdirSync(join(dir, 'objects'))) {
      const o = readJson(join(dir, 'objects', f));
      this.objectFiles.set(o.name as string, o);
    }
    const base = readJson(join(dir, 'events', 'base_event.json'));
    this.classFiles.set('base_event', base);
    this.classUids.set(0, 'base_event');
    for (const f of readdirSync(join(dir, 'events', 'system'))) {
      const c = readJson(join(dir, 'events', 'system', f));
      this.classFiles.set(c.name as string, c);
    }
    for (const [name, c] of this.classFiles) {
      if (typeof c.uid === 'number') this.classUids.set(this.categoryUid(name) * 1000 + c.uid, name);
    }
  }

  get profileNames(): string[] {
    return [...this.profiles.keys()];
  }

  private categoryUid(className: string): number {
    for (let c: Json | undefined = this.classFiles.get(className); c; c = c.extends ? this.classFiles.get(c.extends) : undefined) {
      if (typeof c.category === 'string') return CATEGORY_UIDS[c.category] ?? -1;
    }
    return -1;
  }

  /** A class's or object's attributes, `extends` and profiles resolved (memoised). */
  private shape(kind: 'class' | 'object', name: string): Shape {
    const key = `${kind}:${name}`;
    const cached = this.shapes.get(key);
    if (cached) return cached;
    const files = kind === 'class' ? this.classFiles : this.objectFiles;
    const chain: Json[] = [];
    for (let f = files.get(name); f; f = f.extends ? files.get(f.extends) : undefined) chain.unshift(f);
    if (chain.length === 0) throw new Error(`OCSF ${kind} '${name}' not in the schema files`);
    const attrs = new Map<string, AttrDef>();
    const constraints: Shape['constraints'] = {};
    const put = (attr: string, spec: Json, profile: string | null) => {
      const d = this.dict[attr] as Json | undefined;
      const prev = attrs.get(attr);
      const enumMerged =
        d?.enum || spec.enum || prev?.enum ? { ...(d?.enum ?? {}), ...(prev?.enum ?? {}), ...(spec.enum ?? {}) } : null;
      attrs.set(attr, {
        type: (spec.type ?? prev?.type ?? d?.type) as string,
        isArray: !!(spec.is_array ?? prev?.isArray ?? d?.is_array),
        requirement: (spec.requirement ?? prev?.requirement ?? d?.requirement ?? 'optional') as string,
        // an explicit `profile` (null or a name) wins; else the including profile's gate stays
        profile: 'profile' in spec ? (spec.profile as string | null) : (prev?.profile ?? profile),
        enum: enumMerged,
        sibling: (d?.sibling ?? null) as string | null,
        deprecated: !!(d?.['@deprecated'] || spec['@deprecated']),
      });
    };
    for (const f of chain) {
      const a = (f.attributes ?? {}) as Json;
      for (const inc of (a.$include ?? []) as string[]) {
        const pname = inc.replace(/^profiles\//, '').replace(/\.json$/, '');
        const p = this.profiles.get(pname);
        if (!p) throw new Error(`profile ${inc} not found`);
        for (const [attr, spec] of Object.entries(p.attributes as Json)) put(attr, spec as Json, pname);
      }
      for (const [attr, spec] of Object.entries(a)) if (attr !== '$include') put(attr, spec as Json, null);
      if (f.constraints) Object.assign(constraints, f.constraints);
    }
    // the base event's enums for these hold only 0; each class's own uid is checked in validate()
    if (kind === 'class') for (const a of ['class_uid', 'category_uid']) if (attrs.has(a)) attrs.get(a)!.enum = null;
    for (const [attr, def] of attrs) if (!def.type) throw new Error(`${kind} ${name}: attribute ${attr} has no type in the dictionary`);
    const s = { name, attrs, constraints };
    this.shapes.set(key, s);
    return s;
  }

  /** Problems with one record (empty: valid). */
  validate(record: Json): string[] {
    const errors: string[] = [];
    const className = this.classUids.get(record.class_uid as number);
    if (!className) return [`class_uid ${record.class_uid} is not a class of these schema files`];
    const profiles = Array.isArray(record.metadata?.profiles) ? (record.metadata.profiles as string[]) : [];
    for (const p of profiles) if (!this.profiles.has(p)) errors.push(`metadata.profiles: unknown profile '${p}'`);
    if (record.metadata?.version !== this.version) errors.push(`metadata.version is '${record.metadata?.version}', not '${this.version}'`);
    const cuid = this.categoryUid(className);
    if (record.category_uid !== cuid) errors.push(`category_uid ${record.category_uid}: class ${className} is in category ${cuid}`);
    if (record.type_uid !== (record.class_uid as number) * 100 + (record.activity_id as number)) {
      errors.push(`type_uid ${record.type_uid} is not class_uid * 100 + activity_id`);
    }
    this.check(this.shape('class', className), record, className, new Set(profiles), errors);
    return errors;
  }

  private check(shape: Shape, o: Json, path: string, profiles: Set<string>, errors: string[]): void {
    const allowed = (def: AttrDef) => def.profile === null || profiles.has(def.profile);
    for (const [attr, def] of shape.attrs) {
      if (def.requirement === 'required' && allowed(def) && o[attr] === undefined) errors.push(`${path}.${attr}: required, missing`);
    }
    for (const [attr, value] of Object.entries(o)) {
      const where = `${path}.${attr}`;
      let def = shape.attrs.get(attr);
      if (!def && attr.endsWith('_dt') && profiles.has('datetime')) {
        // the datetime profile: an RFC 3339 string beside any timestamp attribute
        const ts = shape.attrs.get(attr.slice(0, -3));
        if (ts && this.baseType(ts.type) === 'long_t' && this.isTimestamp(ts.type)) {
          def = { ...ts, type: 'datetime_t', enum: null, sibling: null, profile: null, deprecated: false };
        }
      }
      if (!def) {
        errors.push(`${where}: not an attribute of ${shape.name}`);
        continue;
      }
      if (!allowed(def)) errors.push(`${where}: needs profile '${def.profile}' in metadata.profiles`);
      if (def.deprecated) errors.push(`${where}: deprecated in ${this.version}`);
      if (value === null) {
        errors.push(`${where}: null (leave absent attributes out)`);
        continue;
      }
      if (def.isArray) {
        if (!Array.isArray(value)) errors.push(`${where}: not an array`);
        else value.forEach((v, i) => this.checkValue(def, v, `${where}[${i}]`, profiles, errors));
      } else {
        this.checkValue(def, value, where, profiles, errors);
      }
      if (def.enum && def.sibling && o[def.sibling] !== undefined && String(value) !== '99') {
        const caption = def.enum[String(value)]?.caption;
        if (caption !== undefined && o[def.sibling] !== caption) {
          errors.push(`${path}.${def.sibling}: '${o[def.sibling]}' is not the caption of ${attr} ${value} ('${caption}')`);
        }
      }
    }
    const c = shape.constraints;
    if (c.at_least_one && !c.at_least_one.some((a) => o[a] !== undefined)) {
      errors.push(`${path}: needs at least one of ${c.at_least_one.join(', ')}`);
    }
    if (c.just_one && c.just_one.filter((a) => o[a] !== undefined).length !== 1) {
      errors.push(`${path}: needs exactly one of ${c.just_one.join(', ')}`);
    }
  }

  private isTimestamp(type: string): boolean {
    for (let t: string | undefined = type; t; t = this.types[t]?.type) if (t === 'timestamp_t') return true;
    return false;
  }

  private baseType(type: string): string {
    let t = type;
    while (this.types[t]?.type) t = this.types[t].type as string;
    return t;
  }

  private checkValue(def: AttrDef, v: unknown, where: string, profiles: Set<string>, errors: string[]): void {
    const type = def.type;
    // `object` (unmapped, …) is free-form: objects/object.json is only the root others extend
    if (type !== 'object' && this.objectFiles.has(type)) {
      if (!v || typeof v !== 'object' || Array.isArray(v)) errors.push(`${where}: not an object (${type})`);
      else this.check(this.shape('object', type), v as Json, where, profiles, errors);
      return;
    }
    if (type === 'object' || type === 'json_t') {
      if (type === 'object' && (!v || typeof v !== 'object' || Array.isArray(v))) errors.push(`${where}: not an object`);
      return;
    }
    const t = this.types[type] as Json | undefined;
    if (!t) {
      errors.push(`${where}: unknown type ${type}`);
      return;
    }
    const base = this.baseType(type);
    const ok =
      base === 'string_t'
        ? typeof v === 'string'
        : base === 'integer_t'
          ? Number.isInteger(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31
          : base === 'long_t'
            ? Number.isSafeInteger(v)
            : base === 'float_t'
              ? typeof v === 'number'
              : base === 'boolean_t'
                ? typeof v === 'boolean'
                : false;
    if (!ok) {
      errors.push(`${where}: ${JSON.stringify(v)} is not a ${type}`);
      return;
    }
    if (t.regex && !new RegExp(t.regex as string).test(v as string)) errors.push(`${where}: '${v}' does not match ${type}`);
    if (Array.isArray(t.range) && ((v as number) < t.range[0] || (v as number) > t.range[1])) errors.push(`${where}: ${v} out of range`);
    if (def.enum && !(String(v) in def.enum)) errors.push(`${where}: ${v} is not in its enum (${Object.keys(def.enum).join(', ')})`);
  }
}
