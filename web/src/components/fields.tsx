import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { t } from '../lib/i18n.js';

/*
 * Form controls: each has a <label>, and its error (or hint) right under it, tied with aria-describedby
 * so a screen reader reads it with the field; aria-invalid marks a refused value.
 */

interface Common {
  id: string;
  label: string;
  error?: string | undefined;
  hint?: ComponentChildren;
}

const described = (id: string, error?: string, hint?: ComponentChildren) =>
  [error ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;

function Messages({ id, error, hint }: { id: string; error?: string | undefined; hint?: ComponentChildren }) {
  return (
    <>
      {hint ? (
        <div id={`${id}-hint`} class="hint">
          {hint}
        </div>
      ) : null}
      {error ? (
        <div id={`${id}-error`} class="field-error" role="alert">
          {error}
        </div>
      ) : null}
    </>
  );
}

interface InputProps extends Common {
  value: string;
  onInput: (value: string) => void;
  type?: 'text' | 'password' | 'email' | 'search' | 'datetime-local';
  autocomplete?: string;
  required?: boolean;
}

export function Input({ id, label, error, hint, value, onInput, type = 'text', autocomplete, required }: InputProps) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        name={id}
        type={type}
        value={value}
        required={required}
        autocomplete={autocomplete}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={described(id, error, hint)}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
      />
      <Messages id={id} error={error} hint={hint} />
    </div>
  );
}

interface TextAreaProps extends Common {
  value: string;
  onInput: (value: string) => void;
  rows?: number;
  /** Code (JSON): left to right, no spelling checks. */
  code?: boolean;
}

export function TextArea({ id, label, error, hint, value, onInput, rows = 6, code = false }: TextAreaProps) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea
        id={id}
        name={id}
        rows={rows}
        value={value}
        spellcheck={!code}
        dir={code ? 'ltr' : 'auto'}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={described(id, error, hint)}
        onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)}
      />
      <Messages id={id} error={error} hint={hint} />
    </div>
  );
}

interface SelectProps extends Common {
  value: string;
  onChange: (value: string) => void;
  options: { value: string; label: string }[];
}

export function Select({ id, label, error, hint, value, onChange, options }: SelectProps) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        name={id}
        value={value}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={described(id, error, hint)}
        onChange={(e) => onChange((e.target as HTMLSelectElement).value)}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <Messages id={id} error={error} hint={hint} />
    </div>
  );
}

export function Checkbox({
  id,
  label,
  checked,
  onChange,
}: {
  id: string;
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
}) {
  return (
    <div class="field check">
      <input
        id={id}
        name={id}
        type="checkbox"
        checked={checked}
        onChange={(e) => onChange((e.target as HTMLInputElement).checked)}
      />
      <label for={id}>{label}</label>
    </div>
  );
}

/**
 * A list page's toolbar: a search field with its button, which hands the trimmed text to `onSearch`, and
 * the page's "create" button beside it.
 */
export function ListToolbar(props: {
  id: string;
  label: string;
  onSearch: (text: string) => void;
  create: string;
  onCreate: () => void;
}) {
  const [text, setText] = useState('');
  return (
    <div class="toolbar">
      <form
        class="search"
        onSubmit={(e) => {
          e.preventDefault();
          props.onSearch(text.trim());
        }}
      >
        <Input id={props.id} type="search" label={props.label} value={text} onInput={setText} />
        <button type="submit">{t('common.search')}</button>
      </form>
      <button type="button" class="primary" onClick={props.onCreate}>
        {props.create}
      </button>
    </div>
  );
}
