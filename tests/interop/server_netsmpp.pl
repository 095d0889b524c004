#!/usr/bin/perl
# Net::SMPP (Debian libnet-smpp-perl) as an ESME against ussdgw's SMPP server:
# a transmitter and a receiver bind of one account; submit_sm with a receipt on the
# transmitter, the receipt on the receiver under the id the submit got; an MO to the
# account's address on the receiver; enquire_link; a second bind on a bound
# connection (ESME_RALYBND); submit_sm on the receiver (ESME_RINVBNDSTS); unbind.
# Usage: server_netsmpp.pl SERVER_PORT SIM_CONTROL_PORT PASSWORD. Dies on a mismatch.
use strict;
use warnings;
use Net::SMPP;

my ($port, $ctl, $pw) = @ARGV;
$SIG{ALRM} = sub { die "timed out\n" };
alarm 40;
my $msisdn = '254711000001';
my ($tx, $resp) = Net::SMPP->new_transmitter('127.0.0.1', port => $port,
	system_id => 'perl', password => $pw, smpp_version => 0x34) or die "connect tx: $!\n";
die "tx bind status $resp->{status}\n" if $resp->{status};
my ($rx, $resp2) = Net::SMPP->new_receiver('127.0.0.1', port => $port,
	system_id => 'perl', password => $pw, smpp_version => 0x34) or die "connect rx: $!\n";
die "rx bind status $resp2->{status}\n" if $resp2->{status};
print "ok   Net::SMPP bound as transmitter and receiver\n";

$resp = $tx->enquire_link();
die "enquire_link status $resp->{status}\n" if $resp->{status};
$resp = $tx->bind_transmitter(system_id => 'perl', password => $pw);
die "second bind status $resp->{status}, want 5\n" unless $resp->{status} == 0x05;
$resp = $rx->submit_sm(source_addr => '6000', destination_addr => $msisdn, short_message => 'no');
die "submit on receiver status $resp->{status}, want 4\n" unless $resp->{status} == 0x04;
print "ok   enquire_link answered; ESME_RALYBND and ESME_RINVBNDSTS where due\n";

$resp = $tx->submit_sm(source_addr => '6000', source_addr_ton => 5, destination_addr => "+$msisdn",
	dest_addr_ton => 1, dest_addr_npi => 1, short_message => 'Perl MT', registered_delivery => 1);
die "submit status $resp->{status}\n" if $resp->{status};
my $id = $resp->{message_id};
die "message id '$id'\n" unless $id =~ /^[0-9a-f-]{36}$/;
my $pdu = $rx->read_pdu() or die "no receipt\n";
die "not a receipt (cmd $pdu->{cmd} esm_class $pdu->{esm_class})\n"
	unless $pdu->{cmd} == 0x05 && ($pdu->{esm_class} & 0x04);
(my $rid = $pdu->{receipted_message_id} // '') =~ s/\0$//;
die "receipted_message_id '$rid' ne '$id'\n" unless $rid eq $id;
die "message_state\n" unless ($pdu->{message_state} // '') eq "\x02";
die "receipt text '$pdu->{short_message}'\n" unless $pdu->{short_message} =~ /^id:\Q$id\E .*stat:DELIVRD/;
die "receipt addresses\n" unless $pdu->{source_addr} eq $msisdn && $pdu->{destination_addr} eq '6000';
$rx->deliver_sm_resp(seq => $pdu->{seq}, message_id => '');
print "ok   receipt for $id on the receiver bind\n";

system('curl', '-s', '-o', '/dev/null', '-XPOST', '-H', 'Content-Type: application/json',
	'-d', qq({"from":"254711000002","to":"6000","text":"Perl MO"}),
	"http://127.0.0.1:$ctl/sms/mo") == 0 or die "MO post failed\n";
$pdu = $rx->read_pdu() or die "no MO\n";
die "MO: cmd $pdu->{cmd} text '$pdu->{short_message}'\n"
	unless $pdu->{cmd} == 0x05 && $pdu->{short_message} eq 'Perl MO' && $pdu->{destination_addr} eq '6000';
$rx->deliver_sm_resp(seq => $pdu->{seq}, message_id => '');
print "ok   MO for 6000 on the receiver bind\n";

for my $s ($tx, $rx) {
	$resp = $s->unbind();
	die "unbind status $resp->{status}\n" if $resp->{status};
}
print "ok   unbound\n";
