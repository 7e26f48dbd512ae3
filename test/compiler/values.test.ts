import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Arg } from '../../lang/ast.ts';
import * as t from '../../compiler/arg-types.ts';
import type { ArgType } from '../../compiler/directive.ts';
import {
  isHeaderName, isHostname, isIPv4, isIPv6, parseCidr, parseDuration, parseHostPort, parseInteger, parseNumber, parsePort, parseSize, parseStatus,
  type Parsed,
} from '../../compiler/values.ts';
import { isKnownVariable, parseTemplate, templateText } from '../../compiler/variables.ts';

function value<T>(r: Parsed<T>): T {
  assert.ok(r.ok, `expected a value, got: ${r.ok ? '' : r.message}`);
  return r.value;
}

function error(r: Parsed<unknown>): string {
  assert.ok(!r.ok, `expected an error, got ${JSON.stringify(r.ok && r.value)}`);
  return r.message;
}

const arg: Arg = { kind: 'word', raw: '', value: '', span: { file: 't', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } } };
const read = <T>(type: ArgType<T>, text: string) => type.parse(text, arg) as Parsed<T>;

describe('sizes', () => {
  it('reads bytes and k, m, g in either case', () => {
    assert.equal(value(parseSize('0')), 0);
    assert.equal(value(parseSize('512')), 512);
    assert.equal(value(parseSize('16k')), 16 * 1024);
    assert.equal(value(parseSize('16K')), 16 * 1024);
    assert.equal(value(parseSize('10m')), 10 * 1024 ** 2);
    assert.equal(value(parseSize('10M')), 10 * 1024 ** 2);
    assert.equal(value(parseSize('1g')), 1024 ** 3);
  });

  it('rejects fractions, other units, spaces and signs', () => {
    for (const bad of ['1.5m', '10mb', '10 m', '-1', 'k', '', '1t', 'ten']) {
      assert.match(error(parseSize(bad)), /is not a size/, bad);
    }
  });
});

describe('durations', () => {
  it('reads each unit, in milliseconds', () => {
    assert.equal(value(parseDuration('500ms')), 500);
    assert.equal(value(parseDuration('30s')), 30_000);
    assert.equal(value(parseDuration('5m')), 300_000);
    assert.equal(value(parseDuration('2h')), 7_200_000);
    assert.equal(value(parseDuration('1d')), 86_400_000);
    assert.equal(value(parseDuration('1w')), 604_800_000);
  });

  it('reads a bare number as seconds, as nginx does', () => {
    assert.equal(value(parseDuration('0')), 0);
    assert.equal(value(parseDuration('90')), 90_000);
  });

  it('adds up several parts from the largest unit down', () => {
    assert.equal(value(parseDuration('1m30s')), 90_000);
    assert.equal(value(parseDuration('1h30m')), 5_400_000);
    assert.equal(value(parseDuration('1s500ms')), 1_500);
    assert.equal(value(parseDuration('1w2d3h4m5s6ms')), 604_800_000 + 2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000 + 5_000 + 6);
  });

  it('rejects parts out of order, repeated units, fractions, spaces and unknown units', () => {
    assert.match(error(parseDuration('30s1m')), /each unit once, the larger first/);
    assert.match(error(parseDuration('1s1s')), /each unit once/);
    assert.match(error(parseDuration('500ms1s')), /each unit once/);
    for (const bad of ['1.5s', '30 s', '10x', 's', '', '-5s', '1m30', '5sec', '1y']) {
      assert.match(error(parseDuration(bad)), /is not a duration|cannot be empty/, bad);
    }
  });
});

describe('numbers and ports', () => {
  it('reads whole numbers, negative ones included (ranges are the schema\'s)', () => {
    assert.equal(value(parseInteger('42')), 42);
    assert.equal(value(parseInteger('-1')), -1);
    assert.match(error(parseInteger('4.2')), /not a whole number/);
    assert.match(error(parseInteger('')), /not a whole number/);
  });

  it('reads decimal numbers', () => {
    assert.equal(value(parseNumber('1.25')), 1.25);
    assert.equal(value(parseNumber('2')), 2);
    assert.match(error(parseNumber('.5')), /not a number/);
    assert.match(error(parseNumber('1e3')), /not a number/);
  });

  it('reads ports from 1 to 65535', () => {
    assert.equal(value(parsePort('1')), 1);
    assert.equal(value(parsePort('65535')), 65535);
    assert.match(error(parsePort('0')), /port 0 is out of range: use 1 to 65535/);
    assert.match(error(parsePort('65536')), /out of range/);
    assert.match(error(parsePort('http')), /`http` is not a port number/);
  });

  it('reads HTTP status codes from 100 to 599', () => {
    assert.equal(value(parseStatus('204')), 204);
    assert.match(error(parseStatus('99')), /not an HTTP status code/);
    assert.match(error(parseStatus('600')), /not an HTTP status code/);
    assert.match(error(parseStatus('2000')), /not an HTTP status code/);
  });

  it('reads status ranges', () => {
    assert.deepEqual(value(read(t.statusRange, '200')), [200, 200]);
    assert.deepEqual(value(read(t.statusRange, '200-399')), [200, 399]);
    assert.match(error(read(t.statusRange, '399-200')), /is empty: write the lower status first/);
    assert.match(error(read(t.statusRange, '200-300-400')), /not a status or a range/);
  });
});

describe('addresses', () => {
  it('tells IPv4 and IPv6 addresses and host names apart', () => {
    assert.ok(isIPv4('10.0.0.1') && isIPv4('255.255.255.255') && !isIPv4('256.0.0.1') && !isIPv4('10.0.1') && !isIPv4('01.2.3.4'));
    assert.ok(isIPv6('::1') && isIPv6('2001:db8::1') && isIPv6('::ffff:10.0.0.1') && !isIPv6('1.2.3.4') && !isIPv6('2001:db8:::1') && !isIPv6('fe80::1%eth0'));
    assert.ok(isHostname('example.com') && isHostname('api-1.internal') && isHostname('localhost') && !isHostname('-bad.com') && !isHostname('a..b') && !isHostname('exa mple'));
  });

  it('reads host:port, [v6]:port, *:port and a host alone', () => {
    assert.deepEqual(value(parseHostPort('10.0.0.1:8080')), { host: '10.0.0.1', port: 8080 });
    assert.deepEqual(value(parseHostPort('[::1]:8080')), { host: '::1', port: 8080 });
    assert.deepEqual(value(parseHostPort('[::]')), { host: '::', port: null });
    assert.deepEqual(value(parseHostPort('*:80')), { host: '*', port: 80 });
    assert.deepEqual(value(parseHostPort('app.internal')), { host: 'app.internal', port: null });
  });

  it('explains host:port mistakes', () => {
    assert.match(error(parseHostPort('::1:80')), /looks like an IPv6 address: put it in brackets, as in \[::1:80\]:80/);
    assert.match(error(parseHostPort('[zz]:80')), /`zz` is not an IPv6 address/);
    assert.match(error(parseHostPort('a_b!:80')), /not a valid host name or address/);
    assert.match(error(parseHostPort('10.0.0.1:0')), /out of range/);
    assert.match(error(parseHostPort('10.0.0.1:')), /`` is not a port number/);
  });

  it('reads listen addresses: a port, an address, *, [v6] and localhost', () => {
    assert.deepEqual(value(read(t.listenAddress, '80')), { address: '*', port: 80 });
    assert.deepEqual(value(read(t.listenAddress, '127.0.0.1:8080')), { address: '127.0.0.1', port: 8080 });
    assert.deepEqual(value(read(t.listenAddress, '*:443')), { address: '*', port: 443 });
    assert.deepEqual(value(read(t.listenAddress, '[::]:80')), { address: '::', port: 80 });
    assert.deepEqual(value(read(t.listenAddress, 'localhost:3000')), { address: '127.0.0.1', port: 3000 });
    assert.deepEqual(value(read(t.listenAddress, '10.0.0.1')), { address: '10.0.0.1', port: 80 });
    assert.match(error(read(t.listenAddress, 'example.com:80')), /not the host name `example.com`/);
    assert.match(error(read(t.listenAddress, '70000')), /port 70000 is out of range/);
  });

  it('reads upstream server addresses, port 80 by default', () => {
    assert.deepEqual(value(read(t.serverAddress, '10.0.0.1')), { host: '10.0.0.1', port: 80 });
    assert.deepEqual(value(read(t.serverAddress, 'api.internal:9000')), { host: 'api.internal', port: 9000 });
    assert.deepEqual(value(read(t.serverAddress, '[2001:db8::1]:81')), { host: '2001:db8::1', port: 81 });
    assert.match(error(read(t.serverAddress, 'http://10.0.0.1:80')), /without a scheme: `10.0.0.1:80`/);
    assert.match(error(read(t.serverAddress, 'unix:/tmp/s.sock')), /unix sockets are not supported/);
    assert.match(error(read(t.serverAddress, '*:80')), /`\*` is not a server address/);
  });

  it('reads CIDR ranges, single addresses and all', () => {
    assert.deepEqual(value(parseCidr('10.0.0.0/8')), { family: 4, address: '10.0.0.0', prefix: 8 });
    assert.deepEqual(value(parseCidr('10.1.2.3')), { family: 4, address: '10.1.2.3', prefix: 32 });
    assert.deepEqual(value(parseCidr('2001:db8::/32')), { family: 6, address: '2001:db8::', prefix: 32 });
    assert.deepEqual(value(parseCidr('::1')), { family: 6, address: '::1', prefix: 128 });
    assert.deepEqual(value(parseCidr('all')), { family: 'all', address: '', prefix: 0 });
    assert.deepEqual(value(parseCidr('0.0.0.0/0')), { family: 4, address: '0.0.0.0', prefix: 0 });
    assert.match(error(parseCidr('10.0.0.0/33')), /`\/33` is not a valid prefix length for IPv4 \(0 to 32\)/);
    assert.match(error(parseCidr('::/129')), /for IPv6 \(0 to 128\)/);
    assert.match(error(parseCidr('10.0.0.0/x')), /not a valid prefix length/);
    assert.match(error(parseCidr('example.com')), /not an IP address or CIDR range/);
    assert.match(error(parseCidr('1.2.3.4/8/9')), /not an address or CIDR range/);
  });
});

describe('names', () => {
  it('reads server names: exact, wildcards, regex, _ and empty, exact ones lower-cased', () => {
    assert.equal(value(read(t.serverName, 'Example.COM')), 'example.com');
    assert.equal(value(read(t.serverName, '*.example.com')), '*.example.com');
    assert.equal(value(read(t.serverName, 'www.example.*')), 'www.example.*');
    assert.equal(value(read(t.serverName, '.example.com')), '.example.com');
    assert.equal(value(read(t.serverName, '~^(?<x>.+)\\.example\\.com$')), '~^(?<x>.+)\\.example\\.com$');
    assert.equal(value(read(t.serverName, '_')), '_');
    assert.equal(value(read(t.serverName, '')), '');
    assert.match(error(read(t.serverName, 'exa mple.com')), /not a valid server name/);
  });

  it('reads upstream names', () => {
    assert.equal(value(read(t.name, 'app_v2.internal-1')), 'app_v2.internal-1');
    assert.match(error(read(t.name, '2app')), /is not a valid name/);
    assert.match(error(read(t.name, '')), /is not a valid name/);
  });

  it('reads header names as RFC 9110 tokens', () => {
    assert.ok(isHeaderName('X-Forwarded-For') && isHeaderName("x!#$%&'*+.^_`|~1"));
    assert.ok(!isHeaderName('Bad Header') && !isHeaderName('a:b') && !isHeaderName(''));
  });

  it('reads on|off and fixed keywords', () => {
    assert.equal(value(read(t.onOff, 'on')), true);
    assert.equal(value(read(t.onOff, 'off')), false);
    assert.match(error(read(t.onOff, 'yes')), /expected `on` or `off`, not `yes`/);
    assert.equal(value(read(t.oneOf('a', 'b'), 'b')), 'b');
    assert.match(error(read(t.oneOf('a', 'b'), 'c')), /expected one of `a`, `b`, not `c`/);
  });
});

describe('templates and variables', () => {
  it('reads $name and ${name} between literal text', () => {
    assert.deepEqual(value(parseTemplate('$scheme://${host}x$request_uri')), [{ var: 'scheme' }, '://', { var: 'host' }, 'x', { var: 'request_uri' }]);
  });

  it('runs a $name as far as letters, digits and _ go', () => {
    assert.deepEqual(value(parseTemplate('$host-$remote_port.')), [{ var: 'host' }, '-', { var: 'remote_port' }, '.']);
  });

  it('reads \\$ as a literal dollar, and a $ with no name after it as itself', () => {
    assert.deepEqual(value(parseTemplate('\\$5 and $ and end$')), ['$5 and $ and end$']);
  });

  it('knows the variables and the prefixed families', () => {
    for (const v of ['remote_addr', 'host', 'request_uri', 'proxy_add_x_forwarded_for', 'proxy_host', 'request_id', 'http_user_agent', 'arg_page', 'cookie_session']) {
      assert.ok(isKnownVariable(v), v);
    }
    for (const v of ['user', 'http_', 'arg_', 'cookie_', '1', 'Host']) assert.ok(!isKnownVariable(v), v);
  });

  it('names the first unknown variable, and an unclosed ${', () => {
    assert.equal(error(parseTemplate('$host $nope $nada')), 'unknown variable `$nope`');
    assert.equal(error(parseTemplate('${host')), '`${` is never closed in `${host`');
    assert.equal(error(parseTemplate('$1')), 'unknown variable `$1`');
  });

  it('writes a template back as text that reads the same', () => {
    for (const text of ['$scheme://${host}x', 'costs \\$5', 'plain', '']) {
      const template = value(parseTemplate(text));
      assert.deepEqual(value(parseTemplate(templateText(template))), template);
    }
  });
});
